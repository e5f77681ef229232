"""One English key, one Chinese label: areas register their labels into one catalogue, so a key two areas
translate differently changes the other's pages (a contract shown as 主动退回, a customer list headed 姓名)."""
from __future__ import annotations

from web import i18n

# Synonyms where either label reads right on every page that uses the key.
HARMLESS = {"Late", "Overdue", "Reason", "Claimant", "open", "Warning", "Note", "Kind", "Contact name", "website",
            "Active"}


def test_no_area_gives_a_shared_key_a_conflicting_chinese_label(app):
    clashes = {key for key, _old, _new in i18n.CONFLICTS} - HARMLESS
    assert not clashes, f"keys translated differently by two areas: {sorted(clashes)}"


def test_statuses_and_pool_reasons_keep_their_own_words(app):
    assert i18n.ZH["returned"] == "已退回"
    assert i18n.ZH["pool move: returned"] == "主动退回"
    assert i18n.ZH["Name"] == "名称"
    assert i18n.ZH["Step"] == "当前步骤"

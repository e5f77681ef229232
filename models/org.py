"""Organisation (policy O1): group, companies, sectors, departments, users and scoped role grants."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import clock
from models.base import Base

# Role codes used as BPMN lane names. Scope says where a grant is expected to apply.
ROLES: dict[str, tuple[str, str, str]] = {
    # code: (zh name, en name, usual grant scope)
    "sales_rep": ("销售", "Sales rep", "department"),
    "channel_rep": ("渠道销售", "Channel rep", "department"),
    "dept_manager": ("部门经理", "Department manager", "department"),
    "dept_assistant": ("部门助理", "Department assistant", "department"),
    "business_manager": ("商务经理", "Business manager", "sector"),
    "marketing": ("市场部", "Marketing", "sector"),
    "president_assistant": ("总裁助理", "President's assistant", "sector"),
    "vice_president": ("副总裁", "Vice-president", "sector"),
    "president": ("总裁", "President", "sector"),
    "sales_mgmt_manager": ("销售管理部经理", "Sales management manager", "sector"),
    "rnd_vp": ("研发副总裁", "R&D vice-president", "sector"),
    "impl_vp": ("实施服务副总裁", "Implementation vice-president", "sector"),
    "finance": ("财务", "Finance", "sector"),
    "implementer": ("实施人员", "Implementer", "sector"),
    "impl_manager": ("实施部经理", "Implementation manager", "sector"),
    "logistics": ("发货", "Shipping", "sector"),
    "customer_service": ("客服", "Customer service", "sector"),
    "sector_head": ("版块负责人", "Sector head", "sector"),
    "sector_admin": ("版块管理员", "Sector admin", "sector"),
    "group_marketing": ("集团市场部", "Group marketing", "group"),
    "system_admin": ("系统管理员", "System admin", "group"),
    "group_management": ("集团管理层", "Group management", "group"),
    # Edits and publishes processes: a sector grant changes that sector's versions, a group grant all of them.
    "process_designer": ("流程设计师", "Process designer", "sector"),
}

USER_STATUSES = ("active", "frozen", "closed")
COMPANY_KINDS = ("headquarters", "branch", "joint_venture", "agent")


class Group(Base):
    __tablename__ = "org_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Company(Base):
    __tablename__ = "company"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("org_group.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="headquarters")


class Sector(Base):
    __tablename__ = "sector"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("org_group.id"))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Department(Base):
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[Sector] = relationship()


class Role(Base):
    __tablename__ = "role"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(20))


class User(UserMixin, Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    locale: Mapped[str] = mapped_column(String(10), default="zh")
    can_export: Mapped[bool] = mapped_column(default=False)  # O6: exports only by users allowed to
    lead_rights: Mapped[bool] = mapped_column(default=True)  # L4 / P2 / P3: may receive routed leads
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_login_at: Mapped[datetime | None]

    grants: Mapped[list[UserRole]] = relationship(lazy="selectin", back_populates="user")
    department: Mapped[Department | None] = relationship(lazy="joined")

    @property
    def is_active(self) -> bool:  # Flask-Login: frozen and closed accounts cannot log in (O5)
        return self.status == "active"

    @property
    def role_codes(self) -> set[str]:
        return {g.role_code for g in self.grants}

    def has_role(self, code: str) -> bool:
        return code in self.role_codes


class UserRole(Base):
    """A role granted to a user within a scope: a department, a sector, or the whole group (both null)."""

    __tablename__ = "user_role"
    __table_args__ = (
        UniqueConstraint("user_id", "role_code", "sector_id", "department_id"),
        Index("ix_user_role_lookup", "role_code", "department_id", "sector_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    role_code: Mapped[str] = mapped_column(ForeignKey("role.code"))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    user: Mapped[User] = relationship(back_populates="grants")

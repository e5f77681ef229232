// Kanban of opportunities (销售看板): move a card by drag and drop, by the ← → buttons, by ← → on a focused
// card, or with the stage select + 移动. Each move POSTs {stage_code, version} to /opportunities/<id>/stage
// with the session cookie and the X-CSRFToken header; the server decides (E4: owner only; stale → 409).
(function () {
  'use strict';
  const board = document.getElementById('board');
  if (!board) return;
  const status = document.getElementById('board-status');
  const csrf = board.dataset.csrf;
  const urlFor = (id) => board.dataset.stageUrl.replace('2147483647', String(id));
  const columns = () => Array.from(board.querySelectorAll('.column'));
  const columnOf = (code) => columns().find((c) => c.dataset.stage === code);

  const money = (cents) => {
    const negative = cents < 0;
    const abs = Math.abs(cents);
    const yuan = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const fen = String(abs % 100).padStart(2, '0');
    return `${negative ? '-' : ''}¥${yuan}.${fen}`;
  };

  const say = (text, isError) => {
    status.textContent = text;
    status.classList.toggle('error', !!isError);
    status.classList.toggle('ok', !isError);
  };

  const updateTotals = () => {
    columns().forEach((col) => {
      const cards = Array.from(col.querySelectorAll('.opp-card'));
      const cents = cards.reduce((sum, card) => sum + parseInt(card.dataset.cents || '0', 10), 0);
      col.querySelector('.count').textContent = String(cards.length);
      col.querySelector('.sum').textContent = money(cents);
    });
  };

  const neighbour = (card, step) => {
    const cols = columns();
    const i = cols.findIndex((c) => c.dataset.stage === card.dataset.stage);
    const target = cols[i + step];
    return target ? target.dataset.stage : null;
  };

  const refreshControls = (card) => {
    const prev = card.querySelector('button.prev');
    const next = card.querySelector('button.next');
    if (prev) prev.disabled = !neighbour(card, -1);
    if (next) next.disabled = !neighbour(card, 1);
    const select = card.querySelector('select[name="stage_code"]');
    if (select) select.value = card.dataset.stage;
  };

  let busy = false;
  const move = async (card, code) => {
    if (!code || code === card.dataset.stage || card.dataset.movable !== '1' || busy) return;
    busy = true;
    card.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(urlFor(card.dataset.id), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': csrf },
        body: JSON.stringify({ stage_code: code, version: parseInt(card.dataset.version, 10) }),
      });
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      if (!response.ok) {
        say(body.message || `${response.status}`, true);
        return;
      }
      const target = columnOf(body.stage_code);
      const hadFocus = card.contains(document.activeElement) ? document.activeElement : null;
      card.dataset.stage = body.stage_code;
      card.dataset.version = String(body.version);
      const hidden = card.querySelector('input[name="version"]');
      if (hidden) hidden.value = String(body.version);
      card.classList.toggle('closed-won', body.status === 'won');
      card.classList.toggle('closed-lost', body.status === 'lost');
      if (target) target.querySelector('.cards').appendChild(card);
      refreshControls(card);
      updateTotals();
      (hadFocus && card.contains(hadFocus) && !hadFocus.disabled ? hadFocus : card).focus();
      say(body.message || '', false);
    } catch (e) {
      say(String(e), true);
    } finally {
      busy = false;
      card.removeAttribute('aria-busy');
    }
  };

  board.querySelectorAll('.opp-card').forEach((card) => {
    refreshControls(card);
    const form = card.querySelector('form.move');
    if (form) {
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        move(card, form.querySelector('select[name="stage_code"]').value);
      });
      card.querySelector('button.prev').addEventListener('click', () => move(card, neighbour(card, -1)));
      card.querySelector('button.next').addEventListener('click', () => move(card, neighbour(card, 1)));
    }
    card.addEventListener('keydown', (event) => {
      if (event.target !== card) return; // inside the select or a button the keys keep their meaning
      if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
        event.preventDefault();
        move(card, neighbour(card, event.key === 'ArrowLeft' ? -1 : 1));
      } else if (event.key === 'Enter') {
        const link = card.querySelector('h3 a');
        if (link) link.click();
      }
    });
    card.addEventListener('dragstart', (event) => {
      if (card.dataset.movable !== '1') { event.preventDefault(); return; }
      event.dataTransfer.setData('text/plain', card.dataset.id);
      event.dataTransfer.effectAllowed = 'move';
      card.classList.add('dragging');
    });
    card.addEventListener('dragend', () => card.classList.remove('dragging'));
  });

  columns().forEach((col) => {
    col.addEventListener('dragover', (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'move';
      col.classList.add('drop-target');
    });
    col.addEventListener('dragleave', (event) => {
      if (!col.contains(event.relatedTarget)) col.classList.remove('drop-target');
    });
    col.addEventListener('drop', (event) => {
      event.preventDefault();
      col.classList.remove('drop-target');
      const id = event.dataTransfer.getData('text/plain');
      const card = board.querySelector(`.opp-card[data-id="${CSS.escape(id)}"]`);
      if (card) move(card, col.dataset.stage);
    });
  });
})();

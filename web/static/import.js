// Import job page: poll the job's status until it is done or failed, moving the progress bar.
// Without JavaScript the page has a Refresh link instead.
(function () {
  const card = document.getElementById('import-job');
  if (!card) return;
  const url = card.dataset.statusUrl;
  const running = (s) => s === 'queued' || s === 'validating' || s === 'importing';
  const labels = { queued: '排队中', validating: '校验中', importing: '导入中', done: '已完成', failed: '失败' };
  const isZh = document.documentElement.lang.startsWith('zh');
  const fmt = (n) => Number(n || 0).toLocaleString();
  const byId = (id) => document.getElementById(id);

  function render(job) {
    byId('job-status').textContent = isZh ? (labels[job.status] || job.status) : job.status;
    byId('job-total').textContent = fmt(job.total_rows);
    byId('job-processed').textContent = fmt(job.processed_rows);
    byId('job-imported').textContent = fmt(job.imported_rows);
    const bar = byId('job-progress');
    bar.max = Math.max(job.total_rows * 2, 1);
    bar.value = job.processed_rows + job.imported_rows;
    bar.textContent = `${bar.value} / ${bar.max}`;
    byId('job-done').hidden = job.status !== 'done';
    byId('job-failed').hidden = job.status !== 'failed';
    const refresh = byId('job-refresh');
    if (refresh && !running(job.status)) refresh.hidden = true;
    if (job.report && job.report.length) {
      const body = byId('job-report-rows');
      body.replaceChildren(...job.report.map((e) => {
        const tr = document.createElement('tr');
        const cells = [[e.row === null ? '—' : String(e.row), 'num'], [e.field, ''], [e.message, '']];
        const names = Array.from(document.querySelectorAll('#job-report thead th')).map((th) => th.textContent);
        cells.forEach(([text, cls], i) => {
          const td = document.createElement('td');
          td.textContent = text;
          if (cls) td.className = cls;
          td.dataset.label = names[i] || '';
          tr.appendChild(td);
        });
        return tr;
      }));
      byId('job-report').hidden = false;
    }
  }

  async function poll() {
    try {
      const resp = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!resp.ok) return;
      const job = await resp.json();
      render(job);
      if (running(job.status)) setTimeout(poll, 1000);
    } catch (_err) {
      setTimeout(poll, 3000);
    }
  }
  if (running(card.dataset.status)) poll();
})();

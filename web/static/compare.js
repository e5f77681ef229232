// Two versions side by side: removed elements marked in the old one, added in the new, changed in both.
(function () {
  if (!window.BpmnJS) return;
  document.querySelectorAll('.compare-diagram').forEach((el) => {
    const viewer = new window.BpmnJS({ container: el });
    fetch(el.dataset.xml, { credentials: 'same-origin' })
      .then((r) => r.text())
      .then((xml) => viewer.importXML(xml))
      .then(() => {
        const canvas = viewer.get('canvas');
        const registry = viewer.get('elementRegistry');
        canvas.zoom('fit-viewport');
        const mark = (ids, cls) => (ids || '').split(',').filter(Boolean).forEach((id) => {
          if (registry.get(id)) canvas.addMarker(id, cls);
        });
        mark(el.dataset.added, 'diff-added');
        mark(el.dataset.removed, 'diff-removed');
        mark(el.dataset.changed, 'diff-changed');
        el.dataset.rendered = 'true';
      })
      .catch((err) => { el.textContent = String(err); });
  });
})();

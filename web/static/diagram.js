// Shows the instance's diagram and marks the current step(s) and the completed ones.
(function () {
  const el = document.getElementById('diagram');
  if (!el || !window.BpmnJS) return;
  const viewer = new window.BpmnJS({ container: el });
  fetch(el.dataset.xml, { credentials: 'same-origin' })
    .then((r) => r.text())
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get('canvas');
      canvas.zoom('fit-viewport');
      const registry = viewer.get('elementRegistry');
      const mark = (ids, cls) => ids.split(',').filter(Boolean).forEach((id) => {
        if (registry.get(id)) canvas.addMarker(id, cls);
      });
      mark(el.dataset.done || '', 'done');
      mark(el.dataset.current || '', 'current');
      el.dataset.rendered = 'true';
    })
    .catch((err) => { el.textContent = String(err); });
})();

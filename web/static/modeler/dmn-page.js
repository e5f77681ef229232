// The decision table editor page: dmn-js Modeler (decision tables, DRD, literal expressions) and the
// toolbar (save / validate / publish) from common.js. Problems name DMN ids: a decision, a rule, an input…
(function () {
  'use strict';
  const { L, el, loadDraft, start } = window.ModelerCommon;
  const container = document.getElementById('canvas');
  const viewsNav = document.getElementById('dmn-views');
  if (!window.DmnJS || !container) return;

  const modeler = new window.DmnJS({ container, common: { keyboard: { bind: true } } });
  window.dmnModeler = modeler;  // for the browser tests and the console
  let dirty = false;
  let toolbar = null;
  const hooked = new WeakSet();

  function hookViewer() {
    const viewer = modeler.getActiveViewer();
    if (!viewer || hooked.has(viewer)) return;
    hooked.add(viewer);
    viewer.get('eventBus').on('commandStack.changed', () => {
      dirty = true;
      if (toolbar) toolbar.refreshDirty();
    });
  }

  function viewLabel(view) {
    const kind = view.type === 'drd' ? 'DRD' : view.type === 'decisionTable' ? L('Decision table') : view.type;
    return (view.element.name || view.element.id) + ' · ' + kind;
  }

  function renderViews() {
    const active = modeler.getActiveView();
    viewsNav.replaceChildren(...modeler.getViews().map((view) => el('button', {
      type: 'button', class: 'secondary small view-tab', 'data-view': view.element.id + ':' + view.type,
      'aria-pressed': active && active.element === view.element && active.type === view.type ? 'true' : 'false',
      onclick: () => modeler.open(view),
    }, viewLabel(view))));
  }

  modeler.on('views.changed', () => {
    hookViewer();
    renderViews();
  });

  // Does the DMN element `id` live in this view's decision (its table, rules, inputs, outputs, entries)?
  function contains(view, id) {
    if (view.element.id === id) return true;
    const logic = view.element.decisionLogic;
    if (!logic) return false;
    if (logic.id === id) return true;
    const parts = [].concat(logic.input || [], logic.output || [], logic.rule || []);
    return parts.some((p) => p.id === id || [].concat(p.inputEntry || [], p.outputEntry || []).some((e) => e.id === id)
      || (p.inputExpression && p.inputExpression.id === id));
  }

  // Marks the cells of a rule (row), an input/output (column) or one cell, and scrolls to them.
  function highlight(id) {
    container.querySelectorAll('.problem-focus').forEach((n) => n.classList.remove('problem-focus'));
    const q = CSS.escape(id);
    const nodes = container.querySelectorAll('[data-element-id="' + q + '"], [data-row-id="' + q + '"], [data-col-id="' + q + '"]');
    nodes.forEach((n) => n.classList.add('problem-focus'));
    if (nodes.length) nodes[0].scrollIntoView({ block: 'nearest', inline: 'nearest' });
    return nodes.length > 0;
  }

  const editor = {
    async getXML() {
      const { xml } = await modeler.saveXML({ format: true });
      return xml;
    },
    select(id) {
      const views = modeler.getViews();
      const view = views.find((v) => v.type !== 'drd' && contains(v, id)) || views.find((v) => contains(v, id));
      if (!view) return false;
      const active = modeler.getActiveView();
      const show = () => {
        if (view.type === 'drd') {
          const viewer = modeler.getActiveViewer();
          const shape = viewer.get('elementRegistry').get(id);
          if (shape) {
            viewer.get('selection').select(shape);
            viewer.get('canvas').scrollToElement(shape);
          }
        } else {
          highlight(id);
        }
      };
      if (active && active.element === view.element && active.type === view.type) show();
      else modeler.open(view).then(show);
      return true;
    },
    isDirty: () => dirty,
    markClean() { dirty = false; },
  };

  async function load() {
    const drawn = await loadDraft(container, async (xml) => {
      await modeler.importXML(xml);
      const table = modeler.getViews().find((v) => v.type === 'decisionTable');
      if (table && modeler.getActiveView() !== table) await modeler.open(table);
    });
    if (!drawn) return;
    dirty = false;
    hookViewer();
    renderViews();
    container.dataset.rendered = 'true';
  }

  toolbar = start(editor);
  load();
})();

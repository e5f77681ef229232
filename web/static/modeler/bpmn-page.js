// The BPMN modeler page: bpmn-js Modeler (palette, keyboard, context pad), our properties panel,
// and the toolbar (save / validate / publish) from common.js.
(function () {
  'use strict';
  const { L, loadDraft, start } = window.ModelerCommon;
  const container = document.getElementById('canvas');
  if (!window.BpmnJS || !container) return;

  const modeler = new window.BpmnJS({
    container,
    keyboard: { bind: true },
    moddleExtensions: { spiffworkflow: window.SpiffModdle },
  });
  window.bpmnModeler = modeler;  // for the browser tests and the console
  window.bpmnImport = async (xml) => {  // importXML as the page does it (tests import many diagrams)
    const result = await modeler.importXML(xml);
    keepLoopVariables(result.warnings);
    return result;
  };
  const panel = new window.PropertiesPanel(modeler, document.getElementById('properties-body'));
  let dirty = false;
  let toolbar = null;

  // A problem names a BPMN id: a shape or a flow, or a process (then its pool, if it has one).
  function findElement(id) {
    const registry = modeler.get('elementRegistry');
    const direct = registry.get(id);
    if (direct) return direct;
    return registry.filter((e) => e.businessObject && (e.businessObject.id === id
      || (e.businessObject.processRef && e.businessObject.processRef.id === id)))[0] || null;
  }

  const editor = {
    async getXML() {
      const { xml } = await modeler.saveXML({ format: true });
      return xml;
    },
    select(id) {
      const element = findElement(id);
      if (!element) return false;
      const canvas = modeler.get('canvas');
      if (element === canvas.getRootElement()) {
        modeler.get('selection').select(null);
        panel.show(null);
      } else {
        canvas.scrollToElement(element);
        modeler.get('selection').select(element);
      }
      canvas.focus();  // the keyboard shortcuts (undo, delete, …) work on the focused diagram
      return true;
    },
    isDirty: () => dirty,
    markClean() { dirty = false; },
    beforeSave: () => panel.flush(),
  };

  modeler.on('commandStack.changed', () => {
    dirty = true;
    if (toolbar) toolbar.refreshDirty();
  });

  // SpiffWorkflow reads a multi-instance loop's loopDataInputRef / loopDataOutputRef as a variable name
  // (e.g. impl_tasks), which is no element id: bpmn-js reports it unresolved and would drop it on save.
  // Keep it as a stand-in element carrying that id, so the saved XML still names the variable.
  function keepLoopVariables(warnings) {
    const moddle = modeler.get('moddle');
    (warnings || []).forEach((w) => {
      const prop = String(w.property || '');
      if (!w.element || !w.value || !/loopData(Input|Output)Ref$/.test(prop)) return;
      w.element.set(prop.replace(/^bpmn:/, ''), moddle.create('bpmn:ItemAwareElement', { id: w.value }));
    });
  }

  async function load() {
    const drawn = await loadDraft(container, async (xml) => {
      const result = await modeler.importXML(xml);
      keepLoopVariables(result.warnings);
      container.dataset.warnings = String((result.warnings || []).length);
    });
    if (!drawn) return;
    modeler.get('canvas').zoom('fit-viewport', 'auto');
    dirty = false;
    panel.show(null);
    container.dataset.rendered = 'true';
  }

  toolbar = start(editor);
  load();
})();

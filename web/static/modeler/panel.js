// The properties panel of the modeler page: exactly what our engine understands, nothing else.
// Written without bpmn-js-properties-panel (which needs a bundler); every change goes through bpmn-js
// modeling commands, so undo/redo and the "unsaved changes" mark work.
(function () {
  'use strict';
  const { data, L, api, el, debounce } = window.ModelerCommon;

  // engine/assignment.py lane_role: the role code is the lane name or the word in parentheses.
  const LANE_CODE = /^(?:.*[(（]\s*)?([a-z][a-z0-9_]*)\s*[)）]?\s*$/;
  const ID_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/;
  const CONDITION_SOURCES = ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway', 'bpmn:ComplexGateway'];
  const HUMAN_TASKS = ['bpmn:UserTask', 'bpmn:ManualTask'];
  const DURATION = /^\s*["']P(?:(\d+)D)?(?:T(?:(\d+)H)?)?["']\s*$/;
  const zh = data.locale === 'zh';

  function is(bo, type) {
    return !!bo && typeof bo.$instanceOf === 'function' && bo.$instanceOf(type);
  }

  function isAny(bo, types) {
    return types.some((t) => is(bo, t));
  }

  function field(id, label, input, ...after) {
    return el('div', { class: 'field' }, el('label', { for: id, text: label }), input, ...after);
  }

  function options(select, items, current) {
    const values = items.map((i) => i.value);
    if (current && !values.includes(current)) items = items.concat([{ value: current, label: current }]);
    items.forEach((i) => select.append(el('option', { value: i.value, text: i.label, selected: i.value === (current || '') })));
    return select;
  }

  function roleLabel(role) {
    return (zh ? role.name_zh : role.name_en) + ' (' + role.code + ')';
  }

  class PropertiesPanel {
    constructor(modeler, container) {
      this.modeler = modeler;
      this.container = container;
      this.modeling = modeler.get('modeling');
      this.moddle = modeler.get('moddle');
      this.registry = modeler.get('elementRegistry');
      this.canvas = modeler.get('canvas');
      this.selection = modeler.get('selection');
      this.catalog = data.catalog || { roles: [], connectors: [], forms: [], decisions: [], field_types: [] };
      this.current = null;
      this.selfChange = 0;
      this.checks = [];
      const bus = modeler.get('eventBus');
      bus.on('selection.changed', (e) => this.show(e.newSelection.length === 1 ? e.newSelection[0] : null));
      bus.on('elements.changed', (e) => {
        if (this.selfChange) return;
        const shown = this.current || this.canvas.getRootElement();
        if (e.elements.some((x) => x === shown)) this.show(this.current, true);
      });
      bus.on('root.set', () => { if (!this.current) this.show(null); });
    }

    // Run modeling commands as the panel (the panel does not re-render itself for its own changes).
    cmd(fn, rerender) {
      this.selfChange += 1;
      try {
        fn();
      } finally {
        this.selfChange -= 1;
      }
      if (rerender) this.show(this.current, true);
    }

    show(element, keepFocus) {
      if (element && element.type === 'label') element = element.labelTarget;
      this.current = element || null;
      const target = element || this.canvas.getRootElement();
      const focused = keepFocus && this.container.contains(document.activeElement) ? document.activeElement.id : null;
      this.checks = [];
      const bo = target && target.businessObject;
      this.container.replaceChildren(...(bo ? this.sections(target, bo) : []));
      this.container.dataset.element = bo ? bo.id : '';
      this.container.dataset.type = bo ? bo.$type : '';
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    }

    sections(element, bo) {
      const out = [this.finder()];
      const kind = L(bo.$type) === bo.$type ? bo.$type.replace('bpmn:', '') : L(bo.$type);
      out.push(el('h3', { class: 'element-type' }, el('span', { text: kind }), ' ',
        el('code', { class: 'element-id', text: bo.id })));
      if (!this.current) out.push(el('p', { class: 'muted', text: L('Select an element to edit its properties.') }));
      out.push(...this.general(element, bo));
      if (is(bo, 'bpmn:Participant') && bo.processRef) out.push(...this.processFields(element, bo.processRef));
      if (is(bo, 'bpmn:Process')) out.push(...this.processFields(element, bo, true));
      if (is(bo, 'bpmn:Lane')) out.push(...this.lane(element, bo));
      if (is(bo, 'bpmn:SequenceFlow')) out.push(...this.flow(element, bo));
      if (isAny(bo, HUMAN_TASKS)) out.push(...this.humanTask(element, bo));
      if (is(bo, 'bpmn:ServiceTask')) out.push(...this.serviceTask(element, bo));
      if (is(bo, 'bpmn:BusinessRuleTask')) out.push(...this.businessRule(element, bo));
      const timer = (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
      if (timer) out.push(...this.timer(element, timer));
      if (is(bo, 'bpmn:Activity') && !is(bo, 'bpmn:SubProcess')) out.push(...this.scripts(element, bo));
      return out;
    }

    // --- find an element by id or name (keyboard users cannot click the canvas) --------------------
    finder() {
      const list = el('datalist', { id: 'prop-find-list' });
      this.registry.getAll().forEach((e) => {
        if (e.type === 'label' || !e.businessObject || e === this.canvas.getRootElement()) return;
        list.append(el('option', { value: e.id, label: e.businessObject.name || '' }));
      });
      const input = el('input', { id: 'prop-find', type: 'search', list: 'prop-find-list', autocomplete: 'off' });
      const msg = el('span', { class: 'check', id: 'prop-find-msg', role: 'status' });
      input.addEventListener('keydown', (event) => {
        if (event.key !== 'Enter') return;
        event.preventDefault();
        const q = input.value.trim();
        const found = this.registry.get(q) || this.registry.filter((e) => e.type !== 'label' && e.businessObject
          && e.businessObject.name === q)[0];
        if (!found) {
          msg.textContent = L('No such element.');
          return;
        }
        this.selectElement(found);
      });
      return el('div', { class: 'field finder' }, el('label', { for: 'prop-find', text: L('Find an element') }), input, list, msg);
    }

    selectElement(element) {
      this.selection.select(element);
      this.canvas.scrollToElement(element);
    }

    // --- id and name --------------------------------------------------------------------------------
    general(element, bo) {
      const idInput = el('input', { id: 'prop-id', type: 'text', value: bo.id, autocomplete: 'off', spellcheck: 'false' });
      const idMsg = el('p', { class: 'check', id: 'prop-id-msg', role: 'status' });
      idInput.addEventListener('change', () => {
        const value = idInput.value.trim();
        if (value === bo.id) return;
        if (!ID_RE.test(value) || this.moddle.ids.assigned(value)) {
          idInput.setAttribute('aria-invalid', 'true');
          idMsg.className = 'check bad';
          idMsg.textContent = L('This id is taken or not valid (letters, digits, _ - .; not starting with a digit).');
          return;
        }
        idInput.removeAttribute('aria-invalid');
        idMsg.textContent = '';
        this.cmd(() => this.modeling.updateProperties(element, { id: value }), true);
      });
      const out = [field('prop-id', L('Element id'), idInput, idMsg)];
      if (!is(bo, 'bpmn:Process')) {
        const nameInput = el('input', { id: 'prop-name', type: 'text', value: bo.name || '', autocomplete: 'off' });
        nameInput.addEventListener('change', () => {
          const value = nameInput.value;
          if (value === (bo.name || '')) return;
          this.cmd(() => this.modeling.updateProperties(element, { name: value || undefined }), is(bo, 'bpmn:Lane'));
        });
        out.push(field('prop-name', L('Element name'), nameInput));
      }
      return out;
    }

    // --- a process (the diagram root, or the pool's process) -----------------------------------------
    processFields(element, process, isRoot) {
      const out = [];
      if (!isRoot) {
        const key = el('input', { id: 'prop-process-key', type: 'text', value: process.id, autocomplete: 'off' });
        const msg = el('p', { class: 'check', role: 'status' });
        key.addEventListener('change', () => {
          const value = key.value.trim();
          if (value === process.id) return;
          if (!ID_RE.test(value) || this.moddle.ids.assigned(value)) {
            key.setAttribute('aria-invalid', 'true');
            msg.className = 'check bad';
            msg.textContent = L('This id is taken or not valid (letters, digits, _ - .; not starting with a digit).');
            return;
          }
          this.moddle.ids.unclaim(process.id);
          this.moddle.ids.claim(value, process);
          this.cmd(() => this.modeling.updateModdleProperties(element, process, { id: value }), true);
        });
        out.push(field('prop-process-key', L('Process key'), key, msg));
      }
      const exe = el('input', { id: 'prop-executable', type: 'checkbox', checked: process.isExecutable !== false });
      exe.addEventListener('change', () => this.cmd(() => this.modeling.updateModdleProperties(
        element, process, { isExecutable: exe.checked })));
      out.push(el('div', { class: 'field check-field' }, exe, el('label', { for: 'prop-executable', text: L('Executable') })));
      return out;
    }

    // --- lane: its role -----------------------------------------------------------------------------
    lane(element, bo) {
      const match = LANE_CODE.exec((bo.name || '').trim());
      const current = match ? match[1] : '';
      const select = el('select', { id: 'prop-lane-role' });
      options(select, [{ value: '', label: L('(choose a role)') }].concat(
        this.catalog.roles.map((r) => ({ value: r.code, label: roleLabel(r) }))), current);
      select.addEventListener('change', () => {
        const role = this.catalog.roles.find((r) => r.code === select.value);
        if (!role) return;
        this.cmd(() => this.modeling.updateProperties(element, { name: role.name_zh + ' (' + role.code + ')' }), true);
      });
      return [field('prop-lane-role', L('Lane role'), select)];
    }

    // --- sequence flow: condition and default ---------------------------------------------------------
    flow(element, bo) {
      const source = element.source;
      const sourceBo = source && source.businessObject;
      const fromGateway = isAny(sourceBo, CONDITION_SOURCES);
      if (!fromGateway && !bo.conditionExpression) return [];
      const out = [];
      const isDefault = !!sourceBo && sourceBo.default === bo;
      const area = el('textarea', { id: 'prop-condition', rows: 3, spellcheck: 'false', disabled: isDefault,
        'aria-describedby': 'prop-condition-check' });
      area.value = (bo.conditionExpression && bo.conditionExpression.body) || '';
      const msg = el('p', { class: 'check', id: 'prop-condition-check', role: 'status', 'aria-live': 'polite' });
      area.addEventListener('change', () => {
        const value = area.value.trim();
        const old = (bo.conditionExpression && bo.conditionExpression.body) || '';
        if (value === old.trim()) return;
        this.cmd(() => {
          if (!value) {
            this.modeling.updateProperties(element, { conditionExpression: undefined });
          } else {
            const expr = this.moddle.create('bpmn:FormalExpression', { body: value });
            this.modeling.updateProperties(element, { conditionExpression: expr });
          }
        });
      });
      this.liveCheck(area, msg, 'eval', L('Condition is valid.'));
      out.push(field('prop-condition', L('Condition (Python expression)'), area, msg));
      if (fromGateway) {
        const box = el('input', { id: 'prop-default', type: 'checkbox', checked: isDefault });
        box.addEventListener('change', () => {
          this.cmd(() => {
            if (box.checked) {
              if (bo.conditionExpression) this.modeling.updateProperties(element, { conditionExpression: undefined });
              this.modeling.updateProperties(source, { default: bo });
            } else if (sourceBo.default === bo) {
              this.modeling.updateProperties(source, { default: undefined });
            }
          }, true);
        });
        out.push(el('div', { class: 'field check-field' }, box,
          el('label', { for: 'prop-default', text: L('Default flow (taken when no condition holds)') })));
      }
      return out;
    }

    // Checks an expression against the server's sandbox as the designer types (debounced) and on save.
    liveCheck(input, msg, mode, okText) {
      let seq = 0;
      const run = async () => {
        const expression = input.value.trim();
        const mine = ++seq;
        if (!expression || input.disabled) {
          msg.textContent = '';
          msg.className = 'check';
          input.removeAttribute('aria-invalid');
          return;
        }
        msg.className = 'check';
        msg.textContent = L('Checking…');
        const res = await api('POST', data.urls.check, { expression, mode });
        if (mine !== seq) return;
        if (res.status === 200 && res.body.ok) {
          msg.className = 'check ok';
          msg.textContent = okText;
          input.removeAttribute('aria-invalid');
        } else {
          msg.className = 'check bad';
          msg.textContent = (res.body && res.body.message) || String(res.status);
          input.setAttribute('aria-invalid', 'true');
        }
      };
      input.addEventListener('input', debounce(run, 350));
      this.checks.push(run);
      if (input.value.trim()) run();
    }

    // --- extension elements ----------------------------------------------------------------------------
    extensions(bo, type) {
      const ext = bo.extensionElements;
      return ext ? ext.get('values').filter((v) => is(v, type)) : [];
    }

    extensionElements(element, bo) {
      let ext = bo.extensionElements;
      if (!ext) {
        ext = this.moddle.create('bpmn:ExtensionElements', { values: [] });
        ext.$parent = bo;
        this.modeling.updateModdleProperties(element, bo, { extensionElements: ext });
      }
      return ext;
    }

    addExtension(element, bo, child) {
      const ext = this.extensionElements(element, bo);
      child.$parent = ext;
      this.modeling.updateModdleProperties(element, ext, { values: ext.get('values').concat([child]) });
      return child;
    }

    removeExtensions(element, bo, type) {
      const ext = bo.extensionElements;
      if (!ext) return;
      const keep = ext.get('values').filter((v) => !is(v, type));
      if (keep.length !== ext.get('values').length) this.modeling.updateModdleProperties(element, ext, { values: keep });
    }

    property(bo, name) {
      for (const props of this.extensions(bo, 'spiffworkflow:Properties')) {
        const found = props.get('properties').find((p) => p.name === name);
        if (found) return found.value === undefined ? '' : found.value;
      }
      return '';
    }

    setProperty(element, bo, name, value) {
      value = value === null || value === undefined ? '' : String(value);
      if (value === this.property(bo, name)) return;
      this.cmd(() => {
        let props = this.extensions(bo, 'spiffworkflow:Properties')[0];
        if (!props) {
          if (!value) return;
          props = this.addExtension(element, bo, this.moddle.create('spiffworkflow:Properties', { properties: [] }));
        }
        const list = props.get('properties');
        const prop = list.find((p) => p.name === name);
        if (!value) {
          if (prop) this.modeling.updateModdleProperties(element, props, { properties: list.filter((p) => p !== prop) });
        } else if (prop) {
          this.modeling.updateModdleProperties(element, prop, { value });
        } else {
          const created = this.moddle.create('spiffworkflow:Property', { name, value });
          created.$parent = props;
          this.modeling.updateModdleProperties(element, props, { properties: list.concat([created]) });
        }
      });
    }

    bodyExtension(bo, type) {
      const found = this.extensions(bo, type)[0];
      return found ? (found.value || '') : '';
    }

    setBodyExtension(element, bo, type, value) {
      value = (value || '').trim();
      if (value === this.bodyExtension(bo, type).trim()) return;
      this.cmd(() => {
        const found = this.extensions(bo, type)[0];
        if (!value) this.removeExtensions(element, bo, type);
        else if (found) this.modeling.updateModdleProperties(element, found, { value });
        else this.addExtension(element, bo, this.moddle.create(type, { value }));
      });
    }

    // --- user / manual task ---------------------------------------------------------------------------------
    humanTask(element, bo) {
      const out = [el('h3', { text: L('Form') })];
      const form = el('select', { id: 'prop-form' });
      const current = this.property(bo, 'form');
      options(form, [{ value: '', label: L('(none)') }].concat(this.catalog.forms.map((f) => ({
        value: f, label: f === 'custom' ? L('Custom form') + ' (custom)' : f }))), current);
      const fieldsBox = el('div', { class: 'form-fields', id: 'prop-fields' });
      form.addEventListener('change', () => {
        this.setProperty(element, bo, 'form', form.value);
        this.renderFields(element, bo, fieldsBox);
      });
      out.push(field('prop-form', L('Form'), form), fieldsBox);
      this.renderFields(element, bo, fieldsBox);

      const number = (id, name, label) => {
        const input = el('input', { id, type: 'number', min: 0, step: 1, inputmode: 'numeric', value: this.property(bo, name) });
        input.addEventListener('change', () => {
          const v = input.value.trim();
          if (v && !/^\d+$/.test(v)) {
            input.setAttribute('aria-invalid', 'true');
            return;
          }
          input.removeAttribute('aria-invalid');
          this.setProperty(element, bo, name, v);
        });
        return field(id, label, input);
      };
      out.push(number('prop-due-days', 'due_days', L('Due in working days')));
      out.push(number('prop-remind-hours', 'remind_hours', L('Reminder after hours')));
      const escalate = el('select', { id: 'prop-escalate-to' });
      options(escalate, [{ value: '', label: L('(nobody)') }].concat(
        this.catalog.roles.map((r) => ({ value: r.code, label: roleLabel(r) }))), this.property(bo, 'escalate_to'));
      escalate.addEventListener('change', () => this.setProperty(element, bo, 'escalate_to', escalate.value));
      out.push(field('prop-escalate-to', L('Escalate to role'), escalate));
      const assignee = el('input', { id: 'prop-assignee', type: 'text', value: this.property(bo, 'assignee'),
        autocomplete: 'off', spellcheck: 'false' });
      assignee.addEventListener('change', () => this.setProperty(element, bo, 'assignee', assignee.value.trim()));
      out.push(field('prop-assignee', L('Assignee variable'), assignee));
      return out;
    }

    // The custom form's fields, stored as the task property `fields` (JSON).
    renderFields(element, bo, box) {
      box.replaceChildren();
      if (this.property(bo, 'form') !== 'custom') return;
      let fields;
      try {
        fields = JSON.parse(this.property(bo, 'fields') || '[]');
        if (!Array.isArray(fields)) fields = [];
      } catch (err) {
        fields = [];
      }
      const commit = () => {
        const clean = fields.map((f) => {
          const out = { name: (f.name || '').trim(), label: (f.label || '').trim(), type: f.type || 'text',
            required: !!f.required };
          if (out.type === 'choice') out.choices = (f.choices || []).map((c) => String(c).trim()).filter(Boolean);
          const max = f.max === undefined || f.max === null ? '' : String(f.max).trim();
          if (max && ['text', 'textarea', 'number'].includes(out.type) && !Number.isNaN(Number(max))) out.max = Number(max);
          return out;
        });
        this.setProperty(element, bo, 'fields', clean.length ? JSON.stringify(clean) : '');
      };
      const types = this.catalog.field_types.length ? this.catalog.field_types
        : ['text', 'textarea', 'number', 'date', 'choice', 'boolean'];
      box.append(el('h4', { text: L('Form fields') }));
      fields.forEach((f, i) => {
        const p = 'prop-field-' + i + '-';
        const name = el('input', { id: p + 'name', type: 'text', value: f.name || '', autocomplete: 'off', spellcheck: 'false' });
        const label = el('input', { id: p + 'label', type: 'text', value: f.label || '', autocomplete: 'off' });
        const type = el('select', { id: p + 'type' });
        options(type, types.map((t) => ({ value: t, label: L(t) + ' (' + t + ')' })), f.type || 'text');
        const required = el('input', { id: p + 'required', type: 'checkbox', checked: !!f.required });
        const choices = el('textarea', { id: p + 'choices', rows: 3 });
        choices.value = (f.choices || []).join('\n');
        const choicesField = field(p + 'choices', L('Choices (one per line)'), choices);
        choicesField.hidden = (f.type || 'text') !== 'choice';
        const max = el('input', { id: p + 'max', type: 'number', min: 0, value: f.max === undefined ? '' : f.max });
        const maxField = field(p + 'max', L('Longest text / largest number'), max);
        maxField.hidden = !['text', 'textarea', 'number'].includes(f.type || 'text');
        max.addEventListener('change', () => { f.max = max.value; commit(); });
        name.addEventListener('change', () => {
          f.name = name.value;
          // engine/form_builder.py: a letter, then letters, digits or _; decision and comment are the task's own
          const bad = !/^[A-Za-z][A-Za-z0-9_]{0,49}$/.test(f.name.trim()) || ['decision', 'comment', 'typename'].includes(f.name.trim());
          if (bad) name.setAttribute('aria-invalid', 'true');
          else name.removeAttribute('aria-invalid');
          commit();
        });
        label.addEventListener('change', () => { f.label = label.value; commit(); });
        type.addEventListener('change', () => {
          f.type = type.value;
          choicesField.hidden = f.type !== 'choice';
          maxField.hidden = !['text', 'textarea', 'number'].includes(f.type);
          commit();
        });
        required.addEventListener('change', () => { f.required = required.checked; commit(); });
        choices.addEventListener('change', () => { f.choices = choices.value.split('\n'); commit(); });
        const remove = el('button', { type: 'button', class: 'secondary small', id: p + 'remove', onclick: () => {
          fields.splice(i, 1);
          commit();
          this.renderFields(element, bo, box);
        } }, L('Remove'));
        box.append(el('fieldset', { class: 'form-field' }, el('legend', { text: '#' + (i + 1) + ' ' + (f.label || f.name || '') }),
          field(p + 'name', L('Field name'), name), field(p + 'label', L('Field label'), label),
          field(p + 'type', L('Field type'), type),
          el('div', { class: 'field check-field' }, required, el('label', { for: p + 'required', text: L('Required field') })),
          choicesField, maxField, remove));
      });
      const decisions = el('input', { id: 'prop-decisions', type: 'text', value: this.property(bo, 'decisions'),
        autocomplete: 'off', placeholder: 'approve:同意,reject:退回' });
      decisions.addEventListener('change', () => this.setProperty(element, bo, 'decisions', decisions.value.trim()));
      box.append(field('prop-decisions', L('Decision buttons (value:label, comma separated)'), decisions));
      box.append(el('button', { type: 'button', class: 'secondary small', id: 'prop-field-add', onclick: () => {
        fields.push({ name: 'field_' + (fields.length + 1), label: '', type: 'text', required: false });
        commit();
        this.renderFields(element, bo, box);
        const added = document.getElementById('prop-field-' + (fields.length - 1) + '-name');
        if (added) added.focus();
      } }, L('Add a field')));
    }

    // --- service task: connector and its parameters ---------------------------------------------------------
    serviceTask(element, bo) {
      const op = this.extensions(bo, 'spiffworkflow:ServiceTaskOperator')[0];
      const out = [el('h3', { text: L('Connector') })];
      const select = el('select', { id: 'prop-connector' });
      options(select, [{ value: '', label: L('(choose a connector)') }].concat(this.catalog.connectors.map((c) => ({
        value: c.name, label: c.name + (c.description ? ' — ' + c.description : '') }))), op ? op.id : '');
      select.addEventListener('change', () => {
        const conn = this.catalog.connectors.find((c) => c.name === select.value);
        this.cmd(() => {
          const old = this.extensions(bo, 'spiffworkflow:ServiceTaskOperator')[0];
          const oldParams = old && old.parameters ? old.parameters.get('parameters') : [];
          this.removeExtensions(element, bo, 'spiffworkflow:ServiceTaskOperator');
          if (!conn) return;
          const params = this.moddle.create('spiffworkflow:Parameters', { parameters: [] });
          Object.entries(conn.params).forEach(([name, type]) => {
            const prev = oldParams.find((p) => p.id === name);
            const p = this.moddle.create('spiffworkflow:Parameter', { id: name, type, value: prev ? prev.value : '' });
            p.$parent = params;
            params.get('parameters').push(p);
          });
          const created = this.moddle.create('spiffworkflow:ServiceTaskOperator', {
            id: conn.name, resultVariable: old && old.resultVariable ? old.resultVariable : undefined, parameters: params });
          params.$parent = created;
          this.addExtension(element, bo, created);
        }, true);
      });
      out.push(field('prop-connector', L('Connector'), select));
      if (!op) return out;
      const result = el('input', { id: 'prop-result-variable', type: 'text', value: op.resultVariable || '',
        autocomplete: 'off', spellcheck: 'false' });
      result.addEventListener('change', () => this.cmd(() => this.modeling.updateModdleProperties(
        element, op, { resultVariable: result.value.trim() || undefined })));
      out.push(field('prop-result-variable', L('Result variable'), result));
      const conn = this.catalog.connectors.find((c) => c.name === op.id);
      const declared = conn ? conn.params : {};
      const existing = op.parameters ? op.parameters.get('parameters') : [];
      const names = Object.keys(declared).concat(existing.map((p) => p.id).filter((id) => !(id in declared)));
      if (names.length) out.push(el('h4', { text: L('Parameters (Python expressions)') }));
      names.forEach((name, i) => {
        const id = 'prop-param-' + i;
        const param = existing.find((p) => p.id === name);
        const input = el('input', { id, type: 'text', value: param ? (param.value || '') : '', autocomplete: 'off',
          spellcheck: 'false', 'data-param': name });
        const msg = el('p', { class: 'check', id: id + '-check', role: 'status' });
        input.addEventListener('change', () => this.cmd(() => this.setParameter(element, op, name, declared[name], input.value.trim())));
        this.liveCheck(input, msg, 'eval', L('Expression is valid.'));
        const label = name + ' (' + (declared[name] || (param && param.type) || '') + ')';
        const after = name in declared ? [msg] : [msg, el('p', { class: 'check bad', text: L('Not declared by this connector') })];
        out.push(field(id, label, input, ...after));
      });
      return out;
    }

    setParameter(element, op, name, type, value) {
      let params = op.parameters;
      if (!params) {
        params = this.moddle.create('spiffworkflow:Parameters', { parameters: [] });
        params.$parent = op;
        this.modeling.updateModdleProperties(element, op, { parameters: params });
      }
      const list = params.get('parameters');
      const found = list.find((p) => p.id === name);
      if (found) {
        if ((found.value || '') !== value) this.modeling.updateModdleProperties(element, found, { value });
        return;
      }
      const created = this.moddle.create('spiffworkflow:Parameter', { id: name, type: type || 'str', value });
      created.$parent = params;
      this.modeling.updateModdleProperties(element, params, { parameters: list.concat([created]) });
    }

    // --- business rule task: the decision table it calls -------------------------------------------------
    businessRule(element, bo) {
      const current = this.bodyExtension(bo, 'spiffworkflow:CalledDecisionId').trim();
      const select = el('select', { id: 'prop-decision' });
      options(select, [{ value: '', label: L('(choose a decision table)') }].concat(this.catalog.decisions.map((d) => ({
        value: d.key, label: (d.name || d.key) + ' (' + d.key + ') v' + d.version }))), current);
      select.addEventListener('change', () => this.setBodyExtension(element, bo, 'spiffworkflow:CalledDecisionId', select.value));
      return [field('prop-decision', L('Decision table'), select)];
    }

    // --- timer events: duration in days / hours, written as a quoted ISO 8601 duration ------------------------
    timer(element, def) {
      const body = def.timeDuration ? (def.timeDuration.body || '') : '';
      const m = DURATION.exec(body);
      const days = el('input', { id: 'prop-timer-days', type: 'number', min: 0, step: 1, inputmode: 'numeric',
        value: m && m[1] ? m[1] : '' });
      const hours = el('input', { id: 'prop-timer-hours', type: 'number', min: 0, step: 1, inputmode: 'numeric',
        value: m && m[2] ? m[2] : '' });
      const expr = el('input', { id: 'prop-timer-expression', type: 'text', value: body, autocomplete: 'off', spellcheck: 'false' });
      const msg = el('p', { class: 'check', id: 'prop-timer-check', role: 'status' });
      const write = (value) => {
        if (value === (def.timeDuration ? def.timeDuration.body || '' : '')) return;
        this.cmd(() => {
          const props = { timeDate: undefined, timeCycle: undefined };
          props.timeDuration = value ? this.moddle.create('bpmn:FormalExpression', { body: value }) : undefined;
          this.modeling.updateModdleProperties(element, def, props);
        });
        expr.value = value;
      };
      const fromParts = () => {
        const d = parseInt(days.value, 10) || 0;
        const h = parseInt(hours.value, 10) || 0;
        if (!d && !h) return;
        write('"P' + (d ? d + 'D' : '') + (h ? 'T' + h + 'H' : '') + '"');
      };
      days.addEventListener('change', fromParts);
      hours.addEventListener('change', fromParts);
      expr.addEventListener('change', () => write(expr.value.trim()));
      this.liveCheck(expr, msg, 'eval', L('Expression is valid.'));
      return [el('h3', { text: L('Timer duration') }),
        el('div', { class: 'row' }, field('prop-timer-days', L('Days'), days), field('prop-timer-hours', L('Hours'), hours)),
        field('prop-timer-expression', L('Timer expression'), expr, msg)];
    }

    // --- scripts before / after a step ---------------------------------------------------------------------
    scripts(element, bo) {
      const out = [];
      [['spiffworkflow:PreScript', 'prop-prescript', L('Script before the step')],
        ['spiffworkflow:PostScript', 'prop-postscript', L('Script after the step')]].forEach(([type, id, label]) => {
        const area = el('textarea', { id, rows: 2, spellcheck: 'false' });
        area.value = this.bodyExtension(bo, type);
        const msg = el('p', { class: 'check', id: id + '-check', role: 'status' });
        area.addEventListener('change', () => this.setBodyExtension(element, bo, type, area.value));
        this.liveCheck(area, msg, 'exec', L('Expression is valid.'));
        out.push(field(id, label, area, msg));
      });
      return out;
    }

    // Before a save: commit the field being edited and check the shown expressions again.
    flush() {
      const active = document.activeElement;
      if (active && this.container.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
        active.dispatchEvent(new Event('change'));
      }
      this.checks.forEach((run) => run());
    }
  }

  window.PropertiesPanel = PropertiesPanel;
})();

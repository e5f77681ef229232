// What the BPMN modeler and the DMN editor pages share: the page data, the session JSON calls
// (CSRF token in X-CSRFToken), and the toolbar: 保存草稿 / 校验 / 发布 with clickable problem lists.
(function () {
  'use strict';

  const data = JSON.parse(document.getElementById('modeler-data').textContent);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  const L = (key) => (data.labels && data.labels[key]) || key;

  async function api(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { status: 0, body: { message: L('Could not reach the server.') } };
    }
    let json;
    try {
      json = await response.json();
    } catch (err) {
      // not JSON: the CSRF check refused the call (the page outlived its session) or a proxy answered
      json = { message: response.status === 400 ? L('The page has expired; reload it and try again.')
        : response.status + ' ' + response.statusText };
    }
    return { status: response.status, body: json || {} };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === undefined || v === null || v === false) return;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, '');
      else node.setAttribute(k, String(v));
    });
    children.flat().forEach((c) => {
      if (c === null || c === undefined || c === false) return;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // The toolbar. `editor` gives getXML() -> Promise<string>, select(elementId) -> boolean,
  // isDirty() / markClean(), and optionally beforeSave() (e.g. re-check the panel's expressions).
  function setup(editor) {
    const status = document.getElementById('modeler-status');
    const problemsBox = document.getElementById('problems');
    const dirtyMark = document.getElementById('dirty');
    const buttons = ['btn-save', 'btn-validate', 'btn-publish'].map((id) => document.getElementById(id));
    let busy = false;

    function say(text, kind) {
      status.className = 'modeler-status ' + (kind || '');
      status.replaceChildren(...[].concat(text));
    }

    function showProblems(title, problems) {
      problemsBox.replaceChildren();
      if (!problems || !problems.length) return;
      const list = el('ul', { class: 'problems' });
      problems.forEach((p) => {
        const element = p.element || '';
        const button = el('button', { type: 'button', class: 'problem link-like', 'data-element': element,
          onclick: () => {
            const found = editor.select(element);
            list.querySelectorAll('.problem').forEach((b) => b.removeAttribute('aria-current'));
            button.setAttribute('aria-current', 'true');
            if (found) document.getElementById('canvas').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
          } }, el('code', { text: element || '—' }), ' ', p.message || '');
        list.append(el('li', {}, button));
      });
      problemsBox.append(el('p', { class: 'problems-title', text: title }), list);
    }

    function refreshDirty() {
      if (dirtyMark) dirtyMark.textContent = editor.isDirty() ? L('Unsaved changes') : '';
    }

    async function save() {
      if (editor.beforeSave) editor.beforeSave();
      let xml;
      try {
        xml = await editor.getXML();
      } catch (err) {
        say(String(err && err.message ? err.message : err), 'bad');
        return false;
      }
      say(L('Saving…'));
      const res = await api('PUT', data.urls.draft, { xml, lock_version: data.draft.lock_version });
      if (res.status === 200) {
        data.draft = res.body;
        editor.markClean();
        refreshDirty();
        say(L('Saved.'), 'ok');
        return true;
      }
      if (res.status === 409) {
        say(L('Someone else saved this draft meanwhile; reload the page to see their changes.'), 'bad');
        return false;
      }
      if (res.body && Array.isArray(res.body.errors)) showProblems(L('Problems (click one to select its element):'), res.body.errors);
      say(res.body.message || String(res.status), 'bad');
      return false;
    }

    async function ensureSaved() {
      return editor.isDirty() ? save() : true;
    }

    async function validateDraft() {
      if (!(await ensureSaved())) return;
      const res = await api('POST', data.urls.validate);
      if (res.status !== 200) {
        say(res.body.message || String(res.status), 'bad');
        return;
      }
      if (res.body.problems.length) {
        showProblems(L('Problems (click one to select its element):'), res.body.problems);
        say(L('Problems (click one to select its element):') + ' ' + res.body.problems.length, 'bad');
      } else {
        showProblems('', []);
        say(L('No problems: the diagram can be published.'), 'ok');
      }
    }

    async function publish() {
      if (!(await ensureSaved())) return;
      const comment = document.getElementById('publish-comment').value.trim();
      const res = await api('POST', data.urls.publish, { comment: comment || null });
      if (res.status === 201) {
        showProblems('', []);
        const version = res.body.version;
        say([data.labels['Published version %(version)s.'].replace('%(version)s', version), ' ',
          el('a', { href: res.body.versions_url, class: 'versions-link', text: L('See the versions') })], 'ok');
        buttons.forEach((b) => { b.disabled = true; });
        return;
      }
      if (res.body && Array.isArray(res.body.errors)) {
        showProblems(L('Publishing was refused:'), res.body.errors);
      }
      say(L('Publishing was refused:') + ' ' + (res.body.message || res.status), 'bad');
    }

    function guard(fn) {
      return async () => {
        if (busy) return;
        busy = true;
        buttons.forEach((b) => b.setAttribute('aria-busy', 'true'));
        try {
          await fn();
        } finally {
          busy = false;
          buttons.forEach((b) => b.removeAttribute('aria-busy'));
        }
      };
    }

    buttons[0].addEventListener('click', guard(save));
    buttons[1].addEventListener('click', guard(validateDraft));
    buttons[2].addEventListener('click', guard(publish));
    document.addEventListener('keydown', (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 's') {
        event.preventDefault();
        guard(save)();
      }
    });
    window.addEventListener('beforeunload', (event) => {
      if (editor.isDirty()) {
        event.preventDefault();
        event.returnValue = '';
      }
    });
    if (data.draft.published_definition_id) buttons.forEach((b) => { b.disabled = true; });
    return { say, showProblems, refreshDirty };
  }

  // Loads the draft into the editor: `importXml(xml)` draws it. On failure the canvas says why (and
  // carries it in data-error for the tests); returns whether the diagram is on screen.
  async function loadDraft(container, importXml) {
    const res = await api('GET', data.urls.draft);
    if (res.status !== 200) {
      container.dataset.error = res.body.message || String(res.status);
      container.textContent = L('Could not load the diagram:') + ' ' + container.dataset.error;
      return false;
    }
    try {
      await importXml(res.body.xml);
    } catch (err) {
      container.dataset.error = String(err && err.message ? err.message : err);
      container.prepend(document.createTextNode(L('Could not load the diagram:') + ' ' + container.dataset.error));
      return false;
    }
    data.draft.lock_version = res.body.lock_version;
    return true;
  }

  // The toolbar for this editor, showing the problems the draft was saved with.
  function start(editor) {
    const toolbar = setup(editor);
    if (data.draft.problems && data.draft.problems.length) {
      toolbar.showProblems(L('Problems (click one to select its element):'), data.draft.problems);
    }
    return toolbar;
  }

  window.ModelerCommon = { data, L, api, el, debounce, setup, loadDraft, start };
})();

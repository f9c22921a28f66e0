// The studio's editor page: bpmn-js Modeler with the properties panel (Camunda's form
// fields plus Sagsflow's conventions), bpmnlint while editing, the server's validation on
// save pinned to the elements, scenario runs and publishing. Loaded as a static file
// (the Content-Security-Policy forbids inline script); the page's data is in
// <script type="application/json" id="studio-data">.
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import 'bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css';
import './studio.css';

import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, CamundaPlatformPropertiesProviderModule,
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import lintModule from 'bpmn-js-bpmnlint';
import lintConfig from 'sagsflow-bpmnlint-config';

import spiffModdle from './spiffworkflow.json';
import SagsflowPropertiesProvider from './provider.js';
import translateModule, { uiLanguage } from './translate.js';

const root = document.getElementById('studio-editor');
const data = JSON.parse(document.getElementById('studio-data').textContent);
const t = data.text;

const sagsflowModule = {
  __init__: [ 'sagsflowPropertiesProvider' ],
  sagsflowPropertiesProvider: [ 'type', SagsflowPropertiesProvider ],
};

const modeler = new BpmnModeler({
  container: '#canvas',
  propertiesPanel: { parent: '#properties' },
  additionalModules: [
    BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, CamundaPlatformPropertiesProviderModule,
    CamundaBehaviorsModule, lintModule, sagsflowModule, translateModule(uiLanguage()),
  ],
  moddleExtensions: { camunda: camundaModdle, spiffworkflow: spiffModdle },
  linting: { bpmnlint: lintConfig, active: true },
  sagsflow: { catalogue: data.catalogue },
});
window.sagsflowModeler = modeler; // for the browser tests and the console

const status = document.getElementById('studio-status');
const list = document.getElementById('problem-list');
const lintList = document.getElementById('lint-list');
const scenarioBox = document.getElementById('scenarier');
const results = document.getElementById('test-results');
let problems = data.problems;
let dirty = false;

function say(text) {
  status.textContent = text;
}

function button(label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'link';
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

function show(id) {
  const element = modeler.get('elementRegistry').get(id);
  if (!element) return;
  document.getElementById('canvas').focus(); // the panel follows the selection only without its focus
  modeler.get('selection').select(element);
  modeler.get('canvas').scrollToElement(element);
}

function pin(items, type, marker) {
  const overlays = modeler.get('overlays');
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  overlays.remove({ type });
  registry.forEach((el) => canvas.removeMarker(el, marker));
  const byElement = {};
  for (const item of items) {
    if (item.element && registry.get(item.element)) (byElement[item.element] ||= []).push(item.message || item.failure);
  }
  for (const [ id, messages ] of Object.entries(byElement)) {
    const badge = document.createElement('span');
    badge.className = `sf-badge ${marker}`;
    badge.textContent = String(messages.length);
    badge.title = messages.join('\n');
    overlays.add(id, type, { position: { top: -10, right: 10 }, html: badge });
    canvas.addMarker(id, marker);
  }
}

function entry(target, text, element, name, severity) {
  const li = document.createElement('li');
  li.className = `problem problem-${severity}`;
  const where = document.createElement('strong');
  where.textContent = element ? `${name || element} (${element})` : t.model;
  li.append(where, `: ${text} `);
  if (element && modeler.get('elementRegistry').get(element)) li.append(button(t.show, () => show(element)));
  target.append(li);
}

function renderProblems() {
  list.replaceChildren();
  for (const p of problems) entry(list, p.message, p.element, p.name, p.severity);
  if (!problems.length) {
    const li = document.createElement('li');
    li.textContent = t.no_problems;
    list.append(li);
  }
  const errors = problems.filter((p) => p.severity === 'error').length;
  document.getElementById('problem-count').textContent = String(errors);
  document.getElementById('publish-blocked').hidden = errors === 0;
  pin(problems, 'sagsflow-problem', 'sf-problem');
}

modeler.on('linting.completed', ({ issues }) => {
  const translate = modeler.get('translate');
  lintList.replaceChildren();
  const registry = modeler.get('elementRegistry');
  for (const [ id, found ] of Object.entries(issues)) {
    for (const issue of found) {
      // an element without a shape is reported on the diagram's root: name the element itself
      const element = registry.get(issue.id || id);
      const name = element && element.businessObject ? element.businessObject.name : '';
      entry(lintList, `${translate(issue.message)} [${issue.rule}]`, issue.id || id, name, issue.category === 'error' ? 'error' : 'warning');
    }
  }
  if (!lintList.children.length) {
    const li = document.createElement('li');
    li.textContent = t.no_problems;
    lintList.append(li);
  }
});

modeler.on('commandStack.changed', () => {
  dirty = true;
  say(t.unsaved);
});

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': data.csrf, Accept: 'application/json' },
    body: JSON.stringify(body || {}),
    credentials: 'same-origin',
  });
  const json = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, json };
}

function scenarios() {
  try {
    return { value: JSON.parse(scenarioBox.value || '[]') };
  } catch (err) {
    return { error: `${t.scenario_json}: ${err.message}` };
  }
}

async function save() {
  const parsed = scenarios();
  const scenarioError = document.getElementById('scenarier-fejl');
  scenarioError.textContent = parsed.error || '';
  scenarioBox.setAttribute('aria-invalid', parsed.error ? 'true' : 'false');
  if (parsed.error) {
    say(t.not_saved);
    return false;
  }
  say(t.saving);
  const { xml } = await modeler.saveXML({ format: true });
  const { ok, json } = await post(data.urls.save, { xml, scenarios: parsed.value });
  if (!ok) {
    scenarioError.textContent = json.message || t.not_saved;
    say(t.not_saved);
    return false;
  }
  problems = json.problems;
  renderProblems();
  dirty = false;
  say(json.errors ? t.saved_with_errors.replace('%(n)s', json.errors) : t.saved);
  return true;
}

async function runTests() {
  if (!(await save())) return;
  say(t.running);
  results.replaceChildren();
  const { json } = await post(data.urls.test, {});
  const runs = json.results || [];
  for (const r of runs) {
    const li = document.createElement('li');
    li.className = r.passed ? 'test-passed' : 'test-failed';
    li.textContent = `${r.passed ? t.passed : t.failed}: ${r.name}` + (r.passed ? ` (${r.steps} ${t.steps})` : ` – ${t.step} ${r.step || '-'}: ${r.failure}`);
    if (r.element && modeler.get('elementRegistry').get(r.element)) li.append(' ', button(t.show, () => show(r.element)));
    results.append(li);
  }
  pin(runs.filter((r) => !r.passed), 'sagsflow-test', 'sf-test-failed');
  const failed = runs.filter((r) => !r.passed).length;
  say(failed ? t.tests_failed.replace('%(n)s', failed) : t.tests_passed.replace('%(n)s', runs.length));
}

document.getElementById('gem').addEventListener('click', save);
document.getElementById('koer-tests').addEventListener('click', runTests);
const publishForm = document.getElementById('udgiv-form');
if (publishForm) {
  publishForm.addEventListener('submit', async (event) => {
    if (publishForm.dataset.saved === 'yes') return;
    event.preventDefault();
    if (await save()) {
      publishForm.dataset.saved = 'yes';
      publishForm.requestSubmit();
    }
  });
}
window.addEventListener('beforeunload', (event) => {
  if (dirty && publishForm?.dataset.saved !== 'yes') event.preventDefault();
});

(async function open() {
  try {
    const response = await fetch(data.urls.xml, { credentials: 'same-origin' });
    const { warnings } = await modeler.importXML(await response.text());
    modeler.get('canvas').zoom('fit-viewport');
    for (const w of warnings) problems.push({ element: w.element && w.element.id || '', name: '', message: w.message, severity: 'warning' });
    renderProblems();
    say(t.opened);
    root.dataset.ready = 'yes';
  } catch (err) {
    problems = [ { element: '', name: '', message: `${t.cannot_open}: ${err.message}`, severity: 'error' } ];
    renderProblems();
    say(t.cannot_open);
    root.dataset.ready = 'error';
  }
}());

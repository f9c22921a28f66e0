// The studio's comparison page: two versions side by side (bpmn-js viewers), with the
// elements bpmn-js-differ finds added, removed, changed or moved coloured on the canvas.
// The table of changed properties and policy values is rendered by the server.
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn.css';
import './studio.css';

import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import { diff } from 'bpmn-js-differ';

import spiffModdle from './spiffworkflow.json';

const root = document.getElementById('studio-diff');
const data = JSON.parse(document.getElementById('studio-data').textContent);
const moddleExtensions = { camunda: camundaModdle, spiffworkflow: spiffModdle };

async function open(container, url) {
  const viewer = new NavigatedViewer({ container, moddleExtensions });
  const response = await fetch(url, { credentials: 'same-origin' });
  await viewer.importXML(await response.text());
  viewer.get('canvas').zoom('fit-viewport');
  return viewer;
}

function mark(viewer, ids, marker) {
  const registry = viewer.get('elementRegistry');
  const canvas = viewer.get('canvas');
  for (const id of ids) if (registry.get(id)) canvas.addMarker(id, marker);
}

(async function compare() {
  try {
    const [ left, right ] = await Promise.all([ open('#diff-old', data.urls.old), open('#diff-new', data.urls.new) ]);
    const changes = diff(left.getDefinitions(), right.getDefinitions());
    const added = Object.keys(changes._added);
    const removed = Object.keys(changes._removed);
    const changed = Object.keys(changes._changed);
    const moved = Object.keys(changes._layoutChanged).filter((id) => !changes._changed[id]);
    mark(right, added, 'diff-added');
    mark(left, removed, 'diff-removed');
    mark(left, changed, 'diff-changed');
    mark(right, changed, 'diff-changed');
    mark(left, moved, 'diff-moved');
    mark(right, moved, 'diff-moved');
    const counts = { added: added.length, removed: removed.length, changed: changed.length, moved: moved.length };
    for (const [ key, n ] of Object.entries(counts)) document.getElementById(`diff-count-${key}`).textContent = String(n);
    root.dataset.ready = 'yes';
  } catch (err) {
    document.getElementById('diff-error').textContent = `${data.text.cannot_open}: ${err.message}`;
    root.dataset.ready = 'error';
  }
}());

// Sagsflow's conventions in the properties panel (docs/modelling.md): a lane's role, a
// task's explicit role, owner tasks, deadlines (a timer reading a policy parameter, tagged
// with the rule), letters (the letter service operator with a template) and milestones.
// Form fields are edited in the Camunda panel's "Forms" group (camunda:formData), which
// this panel includes; the English beside the Danish (names, field labels, enum values) is
// edited here. Choices come from the server's catalogue (/studio/katalog.json).
import htm from 'htm';
import { h } from '@bpmn-io/properties-panel/preact';
import {
  CheckboxEntry, SelectEntry, TextFieldEntry, isCheckboxEntryEdited, isSelectEntryEdited, isTextFieldEntryEdited,
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

const html = htm.bind(h);

// --------------------------------------------------------------- moddle helpers
function extensionValues(bo, type) {
  const ext = bo.get('extensionElements');
  return ext ? ext.get('values').filter((v) => v.$type === type) : [];
}

export function getProperty(element, name) {
  const bo = getBusinessObject(element);
  for (const props of extensionValues(bo, 'camunda:Properties')) {
    const found = props.get('values').find((p) => (p.name || p.id) === name);
    if (found) return found.value;
  }
  return undefined;
}

function ensureExtension(element, injector, type) {
  const bpmnFactory = injector.get('bpmnFactory');
  const modeling = injector.get('modeling');
  const bo = getBusinessObject(element);
  let ext = bo.get('extensionElements');
  if (!ext) {
    ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    modeling.updateProperties(element, { extensionElements: ext });
  }
  let found = ext.get('values').find((v) => v.$type === type);
  if (!found) {
    found = bpmnFactory.create(type, {});
    modeling.updateModdleProperties(element, ext, { values: [ ...ext.get('values'), found ] });
  }
  return found;
}

export function setProperty(element, injector, name, value) {
  const modeling = injector.get('modeling');
  const bpmnFactory = injector.get('bpmnFactory');
  const bo = getBusinessObject(element);
  const existing = extensionValues(bo, 'camunda:Properties');
  const holder = existing.find((props) => props.get('values').some((p) => (p.name || p.id) === name));
  if (value === undefined || value === null || value === '' || value === false) {
    if (holder) {
      modeling.updateModdleProperties(element, holder, {
        values: holder.get('values').filter((p) => (p.name || p.id) !== name),
      });
    }
    return;
  }
  if (holder) {
    const prop = holder.get('values').find((p) => (p.name || p.id) === name);
    modeling.updateModdleProperties(element, prop, { value: String(value) });
    return;
  }
  const props = existing[0] || ensureExtension(element, injector, 'camunda:Properties');
  const prop = bpmnFactory.create('camunda:Property', { name, value: String(value) });
  modeling.updateModdleProperties(element, props, { values: [ ...props.get('values'), prop ] });
}

function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.get('eventDefinitions') || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

function timerExpression(ted) {
  for (const kind of [ 'timeDuration', 'timeDate', 'timeCycle' ]) {
    const value = ted.get(kind);
    if (value) return { kind, body: value.get('body') || '' };
  }
  return { kind: 'timeDuration', body: '' };
}

function letterTemplate(element) {
  const bo = getBusinessObject(element);
  const op = extensionValues(bo, 'spiffworkflow:ServiceTaskOperator')[0];
  if (!op || op.get('id') !== 'letter' || !op.get('parameters')) return '';
  const param = op.get('parameters').get('parameters').find((p) => p.get('id') === 'template');
  const value = param ? param.get('value') || '' : '';
  return value.replace(/^["']|["']$/g, '');
}

// ------------------------------------------------------------------- entries
function select(props) {
  const { element, id, label, options, get, set, description } = props;
  const translate = useService('translate');
  // the placeholder choices (value '') are Sagsflow's texts; the others come from the catalogue
  const choices = options.map((o) => (o.value === '' ? { ...o, label: translate(o.label) } : o));
  return html`<${SelectEntry} element=${element} id=${id} label=${translate(label)}
    description=${description && translate(description)} getValue=${get} setValue=${set} getOptions=${() => choices} />`;
}

function LaneRole(props) {
  const { element, catalogue } = props;
  const modeling = useService('modeling');
  return select({
    element, id: 'sagsflow-lane-role', label: 'Rolle (banens navn)',
    options: [ { value: '', label: '(vælg en rolle)' }, ...catalogue.roles.map((r) => ({ value: r.key, label: `${r.key}: ${r.label}` })) ],
    get: () => getBusinessObject(element).get('name') || '',
    set: (value) => modeling.updateProperties(element, { name: value }),
  });
}

function TaskRole(props) {
  const { element, catalogue } = props;
  const modeling = useService('modeling');
  return select({
    element, id: 'sagsflow-task-role', label: 'Rolle for opgaven',
    description: 'Tom: banens rolle. Udfyld inde i et udvidet delforløb.',
    options: [ { value: '', label: '(banens rolle)' }, ...catalogue.roles.map((r) => ({ value: r.key, label: `${r.key}: ${r.label}` })) ],
    get: () => getBusinessObject(element).get('camunda:candidateGroups') || '',
    set: (value) => modeling.updateProperties(element, { 'camunda:candidateGroups': value || undefined }),
  });
}

function Flag(props) {
  const { element, name, label, id } = props;
  const injector = useService('injector');
  const translate = useService('translate');
  return html`<${CheckboxEntry} element=${element} id=${id} label=${translate(label)}
    getValue=${() => getProperty(element, name) === 'true'}
    setValue=${(value) => setProperty(element, injector, name, value ? 'true' : '')} />`;
}

function Deadline(props) {
  const { element, catalogue } = props;
  const injector = useService('injector');
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const params = catalogue.policy.filter((p) => p.kind === 'duration');
  return select({
    element, id: 'sagsflow-deadline', label: 'Frist: politikparameter',
    description: 'Timeren læser parameteren og mærkes med reglen.',
    options: [ { value: '', label: '(ingen frist-regel)' }, ...params.map((p) => ({ value: p.key, label: `${p.key}: ${p.label} (${p.default})` })) ],
    get: () => getProperty(element, 'deadline') || '',
    set: (key) => {
      const ted = timerDefinition(element);
      if (key && ted) {
        const { kind, body } = timerExpression(ted);
        if (!body.includes(`policy["${key}"]`) && !body.includes(`policy['${key}']`)) {
          const expression = bpmnFactory.create('bpmn:FormalExpression', { body: `policy["${key}"]` });
          modeling.updateModdleProperties(element, ted, { timeDate: undefined, timeCycle: undefined, timeDuration: expression });
        } else if (kind !== 'timeDuration' && kind !== 'timeDate') {
          modeling.updateModdleProperties(element, ted, { timeCycle: undefined });
        }
        const param = params.find((p) => p.key === key);
        if (param && !getBusinessObject(element).get('name')) {
          modeling.updateProperties(element, { name: `Frist: ${param.label}` });
        }
      }
      setProperty(element, injector, 'deadline', key);
    },
  });
}

function TimerExpression(props) {
  const { element } = props;
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const translate = useService('translate');
  return html`<${TextFieldEntry} element=${element} id="sagsflow-timer-expression"
    label=${translate('Timerudtryk (Python)')} debounce=${useService('debounceInput')}
    description=${translate('F.eks. policy["fj_foerste_samtale"] eller add_duration(dato, policy["..."])')}
    getValue=${() => { const ted = timerDefinition(element); return ted ? timerExpression(ted).body : ''; }}
    setValue=${(value) => {
      const ted = timerDefinition(element);
      if (!ted) return;
      const { kind } = timerExpression(ted);
      const expression = bpmnFactory.create('bpmn:FormalExpression', { body: value || '' });
      modeling.updateModdleProperties(element, ted, { timeDuration: undefined, timeDate: undefined, timeCycle: undefined, [kind]: expression });
    }} />`;
}

function Letter(props) {
  const { element, catalogue } = props;
  const injector = useService('injector');
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  return select({
    element, id: 'sagsflow-letter', label: 'Brevskabelon',
    options: [ { value: '', label: '(ikke et brev)' }, ...catalogue.letters.map((t) => ({ value: t, label: t })) ],
    get: () => letterTemplate(element),
    set: (template) => {
      const bo = getBusinessObject(element);
      const current = extensionValues(bo, 'spiffworkflow:ServiceTaskOperator')[0];
      if (!template) {
        if (current) {
          const ext = bo.get('extensionElements');
          modeling.updateModdleProperties(element, ext, { values: ext.get('values').filter((v) => v !== current) });
        }
        return;
      }
      const parameter = bpmnFactory.create('spiffworkflow:Parameter', { id: 'template', type: 'str', value: `"${template}"` });
      const parameters = bpmnFactory.create('spiffworkflow:Parameters', { parameters: [ parameter ] });
      if (current) {
        modeling.updateModdleProperties(element, current, { id: 'letter', parameters });
      } else {
        const op = ensureExtension(element, injector, 'spiffworkflow:ServiceTaskOperator');
        modeling.updateModdleProperties(element, op, { id: 'letter', parameters });
      }
    },
  });
}

function MilestoneKey(props) {
  const { element, catalogue } = props;
  const injector = useService('injector');
  return select({
    element, id: 'sagsflow-milestone', label: 'Milepæl',
    options: [ { value: '', label: '(ingen milepæl)' }, ...catalogue.milestones.map((m) => ({ value: m.key, label: `${m.key}: ${m.label}` })) ],
    get: () => getProperty(element, 'milestone') || '',
    set: (value) => setProperty(element, injector, 'milestone', value),
  });
}

function MilestoneDate(props) {
  const { element } = props;
  const injector = useService('injector');
  const translate = useService('translate');
  return html`<${TextFieldEntry} element=${element} id="sagsflow-milestone-date" label=${translate('Milepælens dato (udtryk)')}
    debounce=${useService('debounceInput')}
    getValue=${() => getProperty(element, 'milestone_date') || ''}
    setValue=${(value) => setProperty(element, injector, 'milestone_date', value)} />`;
}

// ------------------------------------------------- English beside the Danish
// docs/modelling.md "English": name_en on the element; label_en, name_en:<value>,
// check_message_en and item_fields_en on a form field; show_en on the task.
function formFields(element) {
  const formData = extensionValues(getBusinessObject(element), 'camunda:FormData')[0];
  return formData ? formData.get('fields') || [] : [];
}

function getFieldProperty(field, key) {
  const props = field.get('properties');
  const found = props && props.get('values').find((p) => (p.id || p.name) === key);
  return found ? found.value : undefined;
}

export function setFieldProperty(element, injector, field, key, value) {
  const modeling = injector.get('modeling');
  const bpmnFactory = injector.get('bpmnFactory');
  let props = field.get('properties');
  const existing = props && props.get('values').find((p) => (p.id || p.name) === key);
  if (!value) {
    if (existing) modeling.updateModdleProperties(element, props, { values: props.get('values').filter((p) => p !== existing) });
    return;
  }
  if (existing) {
    modeling.updateModdleProperties(element, existing, { value: String(value) });
    return;
  }
  const prop = bpmnFactory.create('camunda:Property', { id: key, value: String(value) });
  if (!props) {
    props = bpmnFactory.create('camunda:Properties', { values: [ prop ] });
    modeling.updateModdleProperties(element, field, { properties: props });
    return;
  }
  modeling.updateModdleProperties(element, props, { values: [ ...props.get('values'), prop ] });
}

function text(props) {
  const { element, id, label, description, get, set } = props;
  return html`<${TextFieldEntry} element=${element} id=${id} label=${label} description=${description}
    debounce=${useService('debounceInput')} getValue=${get} setValue=${set} />`;
}

function NameEnglish(props) {
  const { element } = props;
  const injector = useService('injector');
  const translate = useService('translate');
  return text({
    element, id: 'sagsflow-name-en', label: translate('Navn på engelsk'),
    description: getBusinessObject(element).get('name') || '',
    get: () => getProperty(element, 'name_en') || '',
    set: (value) => setProperty(element, injector, 'name_en', (value || '').trim()),
  });
}

function FieldEnglish(props) {
  const { element, field, property, id, label, replacements, description } = props;
  const injector = useService('injector');
  const translate = useService('translate');
  return text({
    element, id, label: translate(label, replacements), description,
    get: () => getFieldProperty(field, property) || '',
    set: (value) => setFieldProperty(element, injector, field, property, (value || '').trim()),
  });
}

function ShowEnglish(props) {
  const { element } = props;
  const injector = useService('injector');
  const translate = useService('translate');
  return text({
    element, id: 'sagsflow-show-en', label: translate('Det viste på engelsk (show_en)'),
    description: `${translate('felt=Label;milestone:nøgle=Label')} · ${getProperty(element, 'show')}`,
    get: () => getProperty(element, 'show_en') || '',
    set: (value) => setProperty(element, injector, 'show_en', (value || '').trim()),
  });
}

// The components are module functions, not closures made per call: the panel keeps an
// entry's input (and what is being typed in it) only while its component stays the same.
function englishEntries(element, add) {
  if (is(element, 'bpmn:FlowNode') && !is(element, 'bpmn:SequenceFlow')) add('sagsflow-name-en', NameEnglish, isTextFieldEntryEdited);
  if (!is(element, 'bpmn:UserTask') && !is(element, 'bpmn:ManualTask')) return;
  if (getProperty(element, 'show')) add('sagsflow-show-en', ShowEnglish, isTextFieldEntryEdited);
  formFields(element).forEach((field, i) => {
    const fid = field.get('id') || `${i}`;
    const base = `sagsflow-field-${i}`;
    // labels are translate() templates: {field} and {value} are the ids
    const english = (id, property, label, description, value) => add(id, FieldEnglish, isTextFieldEntryEdited,
      { field, property, label, replacements: { field: fid, value }, description });
    english(`${base}-label-en`, 'label_en', 'Feltets etiket på engelsk ({field})', field.get('label') || fid);
    (field.get('values') || []).forEach((value, j) => {
      const vid = value.get('id') || `${j}`;
      english(`${base}-value-${j}-en`, `name_en:${vid}`, 'Værdien på engelsk ({field}: {value})', value.get('name') || vid, vid);
    });
    if (getFieldProperty(field, 'check_message')) {
      english(`${base}-check-en`, 'check_message_en', 'Fejlbeskeden på engelsk ({field})', getFieldProperty(field, 'check_message'));
    }
    if (getFieldProperty(field, 'item_fields')) {
      english(`${base}-items-en`, 'item_fields_en', 'Kolonner på engelsk ({field})',
        `kolonne=Label;kolonne:værdi=Label · ${getFieldProperty(field, 'item_fields')}`);
    }
  });
}

function entries(element, catalogue) {
  const list = [];
  const add = (id, component, isEdited, extra = {}) => list.push({ id, component, isEdited, element, catalogue, ...extra });
  if (is(element, 'bpmn:Lane')) add('sagsflow-lane-role', LaneRole, isSelectEntryEdited);
  if (is(element, 'bpmn:UserTask') || is(element, 'bpmn:ManualTask')) {
    add('sagsflow-task-role', TaskRole, isSelectEntryEdited);
    add('sagsflow-owner-task', (p) => Flag({ ...p, id: 'sagsflow-owner-task', name: 'owner_task', label: 'Ejeropgave (går til sagens ejer)' }), isCheckboxEntryEdited);
    add('sagsflow-takes-ownership', (p) => Flag({ ...p, id: 'sagsflow-takes-ownership', name: 'takes_ownership', label: 'Den der afslutter bliver sagens ejer' }), isCheckboxEntryEdited);
  }
  if (timerDefinition(element)) {
    add('sagsflow-deadline', Deadline, isSelectEntryEdited);
    add('sagsflow-timer-expression', TimerExpression, isTextFieldEntryEdited);
  }
  if (is(element, 'bpmn:ServiceTask')) add('sagsflow-letter', Letter, isSelectEntryEdited);
  if (is(element, 'bpmn:FlowNode') && !is(element, 'bpmn:SequenceFlow')) {
    add('sagsflow-milestone', MilestoneKey, isSelectEntryEdited);
    if (getProperty(element, 'milestone')) add('sagsflow-milestone-date', MilestoneDate, isTextFieldEntryEdited);
  }
  englishEntries(element, add);
  return list;
}

export default function SagsflowPropertiesProvider(propertiesPanel, config) {
  const catalogue = (config && config.catalogue) || { roles: [], policy: [], letters: [], milestones: [] };
  this.getGroups = function(element) {
    return function(groups) {
      const list = entries(element, catalogue);
      if (list.length) groups.splice(1, 0, { id: 'sagsflow', label: 'Sagsflow', entries: list });
      return groups;
    };
  };
  propertiesPanel.registerProvider(400, this);
}
SagsflowPropertiesProvider.$inject = [ 'propertiesPanel', 'config.sagsflow' ];

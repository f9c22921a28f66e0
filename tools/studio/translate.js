// bpmn-js's translate service in the UI's language (issue 12): the palette, context pad,
// replace menu and properties panel follow <html lang>, as the rest of the page does.
// bpmn-js and the properties panel are written in English and i18n/da.json gives their
// Danish; Sagsflow's own panel group is written in Danish and i18n/en.json gives its
// English. A string without a translation is shown as it is and kept in
// window.sagsflowUntranslated (the browser tests read it): in Danish every string that
// is in neither table, in English every string with a Danish letter not in en.json.
import da from './i18n/da.json';
import en from './i18n/en.json';

const TABLES = { da, en };

export function uiLanguage() {
  const lang = (document.documentElement.lang || 'da').toLowerCase().slice(0, 2);
  return TABLES[lang] ? lang : 'da';
}

export default function translateModule(language) {
  const table = TABLES[language];
  const untranslated = new Set();
  window.sagsflowUntranslated = untranslated;
  function translate(template, replacements) {
    const found = Object.hasOwn(table, template);
    if (!found && (language === 'da' ? !Object.hasOwn(en, template) : /[æøåÆØÅ]/.test(template))) {
      untranslated.add(template);
    }
    const text = found ? table[template] : template;
    replacements = replacements || {};
    return text.replace(/{([^}]+)}/g, (_, key) => (Object.hasOwn(replacements, key) ? replacements[key] : `{${key}}`));
  }
  return { translate: [ 'value', translate ] };
}

/**
 * A small YAML writer for the files the grader generates (the GitHub Classroom
 * workflow): block mappings and sequences of strings, numbers and booleans. A
 * string stays plain only when every YAML reader takes it back as that same
 * string; any other is written as a JSON string, which is valid double-quoted YAML.
 */
export type YamlValue = string | number | boolean | YamlValue[] | { [key: string]: YamlValue | undefined };

/** Words YAML 1.1 readers (and some 1.2 ones) turn into booleans or null. */
const reserved = /^(?:y|n|yes|no|true|false|on|off|null)$/i;
/** Starts with a letter, `_`, `$` or `(`; no `:`, `#`, quotes, backslashes, tabs, newlines or trailing space. */
const plainSafe = /^[A-Za-z_$(][^:#'"\\\t\r\n]*(?<! )$/;

function scalar(value: string | number | boolean): string {
  if (typeof value !== "string") return String(value);
  return plainSafe.test(value) && !reserved.test(value) ? value : JSON.stringify(value);
}

const isScalar = (value: YamlValue): value is string | number | boolean => typeof value !== "object";

function block(value: YamlValue[] | { [key: string]: YamlValue | undefined }, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (isScalar(item)) return [`${indent}- ${scalar(item)}`];
      const [first = "", ...rest] = block(item, `${indent}  `);
      return [`${indent}- ${first.slice(indent.length + 2)}`, ...rest];
    });
  }
  return Object.entries(value).flatMap(([key, item]) => {
    if (item === undefined) return [];
    if (isScalar(item)) return [`${indent}${scalar(key)}: ${scalar(item)}`];
    if (Array.isArray(item) ? item.length === 0 : Object.keys(item).length === 0) return [`${indent}${scalar(key)}: ${Array.isArray(item) ? "[]" : "{}"}`];
    return [`${indent}${scalar(key)}:`, ...block(item, `${indent}  `)];
  });
}

/** The document for a mapping, after `# ` comment lines. */
export function toYaml(document: { [key: string]: YamlValue | undefined }, comments: string[] = []): string {
  return [...comments.map((line) => `# ${line}`), ...block(document, "")].join("\n") + "\n";
}

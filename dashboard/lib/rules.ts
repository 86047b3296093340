// The checks the editing pages run before sending anything: read from the API's own published schema
// (GET /v1/openapi.json: the variable-name pattern and each setting's type, range, length, choices
// and pattern, which the API derives from the one place it declares them). Nothing is copied here, so
// the two cannot drift; the API's validation stays the authority and its 400 is shown too.

import { publicCall } from "./api";

export type FieldRule = {
  type: "integer" | "number" | "string" | "boolean" | null;
  nullable: boolean;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  patternSays?: string; // the pattern in words (x-pattern-says), as the API's own 400 says it
  choices?: string[];
};

export type Rules = { variableName: string | null; settings: Record<string, FieldRule> };

type Schema = Record<string, unknown>;

const asSchema = (value: unknown): Schema => (value && typeof value === "object" ? (value as Schema) : {});
const num = (value: unknown) => (typeof value === "number" ? value : undefined);

/** One property of a pydantic model as OpenAPI 3.1 states it: `anyOf: [{type, maxLength}, {type: null}]`
 * with the range, pattern and enum beside it. */
function fieldRule(property: Schema): FieldRule {
  const branches = Array.isArray(property.anyOf) ? property.anyOf.map(asSchema) : [property];
  const typed = branches.find((b) => typeof b.type === "string" && b.type !== "null") ?? {};
  const merged = { ...typed, ...property };
  const choices = Array.isArray(merged.enum) ? merged.enum.filter((c): c is string => typeof c === "string") : undefined;
  return {
    type: (typed.type as FieldRule["type"]) ?? null,
    nullable: branches.some((b) => b.type === "null"),
    minimum: num(merged.minimum),
    exclusiveMinimum: num(merged.exclusiveMinimum),
    maximum: num(merged.maximum),
    maxLength: num(typed.maxLength) ?? num(property.maxLength),
    pattern: typeof merged.pattern === "string" ? merged.pattern : undefined,
    patternSays: typeof merged["x-pattern-says"] === "string" ? merged["x-pattern-says"] : undefined,
    choices: choices?.length ? choices : undefined,
  };
}

/** The rules an OpenAPI document publishes for the variables and settings patches. */
export function rulesFrom(openapi: unknown): Rules {
  const schemas = asSchema(asSchema(asSchema(openapi).components).schemas);
  const variables = asSchema(asSchema(schemas.VariablesPatch).properties);
  const names = asSchema(asSchema(variables.set).propertyNames);
  const settings: Record<string, FieldRule> = {};
  for (const [name, property] of Object.entries(asSchema(asSchema(schemas.SettingsPatch).properties))) {
    settings[name] = fieldRule(asSchema(property));
  }
  return { variableName: typeof names.pattern === "string" ? names.pattern : null, settings };
}

let loading: Promise<Rules> | null = null;

/** The published rules, fetched once per page load (a public route: no token needed). */
export function loadRules(): Promise<Rules> {
  loading ??= publicCall<unknown>("/v1/openapi.json").then(rulesFrom, (error) => {
    loading = null; // try again next time: the API's own checks still apply meanwhile
    throw error;
  });
  return loading;
}

/** Why a variable name would be refused, or null. */
export function variableNameProblem(rules: Rules | null, name: string): string | null {
  if (!name) return "a name is required";
  if (rules?.variableName && !new RegExp(rules.variableName).test(name)) {
    return `"${name}" is not a variable name: letters, digits and _, not starting with a digit (${rules.variableName})`;
  }
  return null;
}

export type Parsed = { value: string | number | null; problem: string | null };

/** A setting's text as typed, as the value the API takes (null clears it), and why it would be refused. */
export function parseSetting(rules: Rules | null, name: string, text: string): Parsed {
  const rule = rules?.settings[name];
  const trimmed = text.trim();
  if (!rule) return { value: trimmed === "" ? null : trimmed, problem: null };
  if (trimmed === "") {
    return rule.nullable && rule.type === "string"
      ? { value: null, problem: null }
      : { value: null, problem: "a value is required" };
  }
  if (rule.type === "integer" || rule.type === "number") {
    const value = Number(trimmed);
    if (!Number.isFinite(value)) return { value: null, problem: "must be a number" };
    if (rule.type === "integer" && !Number.isInteger(value)) return { value, problem: "must be a whole number" };
    return { value, problem: rangeProblem(rule, value) };
  }
  if (rule.maxLength !== undefined && trimmed.length > rule.maxLength) {
    return { value: trimmed, problem: `is ${trimmed.length} characters; the limit is ${rule.maxLength}` };
  }
  if (rule.pattern && !new RegExp(rule.pattern).test(trimmed)) {
    return { value: trimmed, problem: rule.patternSays ?? `must match ${rule.pattern}` };
  }
  if (rule.choices && !rule.choices.includes(trimmed)) {
    return { value: trimmed, problem: `must be one of ${rule.choices.join(", ")}` };
  }
  return { value: trimmed, problem: null };
}

function rangeProblem(rule: FieldRule, value: number): string | null {
  const low = rule.minimum ?? rule.exclusiveMinimum;
  const tooLow =
    (rule.minimum !== undefined && value < rule.minimum) ||
    (rule.exclusiveMinimum !== undefined && value <= rule.exclusiveMinimum);
  const tooHigh = rule.maximum !== undefined && value > rule.maximum;
  if (!tooLow && !tooHigh) return null;
  if (low !== undefined && rule.maximum !== undefined) {
    const above = rule.exclusiveMinimum !== undefined ? "above" : "between";
    return above === "above" ? `must be above ${low} and at most ${rule.maximum}` : `must be between ${low} and ${rule.maximum}`;
  }
  return tooLow ? `must be at least ${low}` : `must be at most ${rule.maximum}`;
}

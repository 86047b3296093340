import { describe, expect, it } from "vitest";
import { parseSetting, rulesFrom, variableNameProblem } from "@/lib/rules";

// The shape GET /v1/openapi.json publishes (chalicelib/api/schemas.py; tests/api/test_published_rules.py
// checks the server side publishes the domain's own rules).
const openapi = {
  components: {
    schemas: {
      VariablesPatch: { properties: { set: { type: "object", propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]{0,254}$" } } } },
      SettingsPatch: {
        properties: {
          numReplicas: { anyOf: [{ type: "integer" }, { type: "null" }], minimum: 1, maximum: 200 },
          healthcheckTimeout: { anyOf: [{ type: "number" }, { type: "null" }], exclusiveMinimum: 0, maximum: 3600 },
          healthcheckPath: { anyOf: [{ type: "string", maxLength: 1024 }, { type: "null" }], pattern: "^/[\\x21-\\x7e]*$", "x-pattern-says": "must start with '/' and contain no spaces" },
          restartPolicyType: { anyOf: [{ type: "string" }, { type: "null" }], enum: ["ON_FAILURE", "ALWAYS", "NEVER"] },
          cronSchedule: { anyOf: [{ type: "string", maxLength: 256 }, { type: "null" }] },
        },
      },
    },
  },
};
const rules = rulesFrom(openapi);

describe("rules read from the published schema", () => {
  it("checks variable names by the API's pattern", () => {
    expect(variableNameProblem(rules, "DATABASE_URL")).toBeNull();
    expect(variableNameProblem(rules, "_x1")).toBeNull();
    expect(variableNameProblem(rules, "1BAD")).toContain("not a variable name");
    expect(variableNameProblem(rules, "BAD-NAME")).toContain("not a variable name");
    expect(variableNameProblem(rules, "")).toBe("a name is required");
  });

  it("checks a setting's type and range, saying the bounds", () => {
    expect(parseSetting(rules, "numReplicas", "3")).toEqual({ value: 3, problem: null });
    expect(parseSetting(rules, "numReplicas", "0").problem).toBe("must be between 1 and 200");
    expect(parseSetting(rules, "numReplicas", "201").problem).toBe("must be between 1 and 200");
    expect(parseSetting(rules, "numReplicas", "1.5").problem).toBe("must be a whole number");
    expect(parseSetting(rules, "numReplicas", "two").problem).toBe("must be a number");
    expect(parseSetting(rules, "numReplicas", "").problem).toBe("a value is required");
    expect(parseSetting(rules, "healthcheckTimeout", "0").problem).toBe("must be above 0 and at most 3600");
    expect(parseSetting(rules, "healthcheckTimeout", "2.5").problem).toBeNull();
  });

  it("checks a text setting's pattern, length and choices; empty clears a clearable one", () => {
    expect(parseSetting(rules, "healthcheckPath", "/health").problem).toBeNull();
    expect(parseSetting(rules, "healthcheckPath", "health").problem).toBe("must start with '/' and contain no spaces");
    expect(parseSetting(rules, "healthcheckPath", "/a b").problem).toBe("must start with '/' and contain no spaces");
    expect(parseSetting(rules, "healthcheckPath", "")).toEqual({ value: null, problem: null });
    expect(parseSetting(rules, "cronSchedule", "x".repeat(257)).problem).toBe("is 257 characters; the limit is 256");
    expect(parseSetting(rules, "restartPolicyType", "SOMETIMES").problem).toBe("must be one of ON_FAILURE, ALWAYS, NEVER");
  });

  it("leaves the decision to the API when no rule was published", () => {
    const none = rulesFrom({});
    expect(variableNameProblem(none, "1BAD")).toBeNull();
    expect(parseSetting(none, "numReplicas", "999")).toEqual({ value: "999", problem: null });
  });
});

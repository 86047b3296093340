import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { fieldNamed, SettingsForm } from "@/components/SettingsForm";
import { VariablesEditor } from "@/components/VariablesEditor";
import type { Service } from "@/lib/types";

const never = () => Promise.reject(new Error("not called"));

describe("VariablesEditor", () => {
  it("masks sealed variables and shows plain values", () => {
    const html = renderToStaticMarkup(
      <VariablesEditor current={{ variables: { GREETING: "hi" }, sealed: ["API_KEY"] }} rules={null} canWrite={true} apply={never} />,
    );
    expect(html).toContain("GREETING");
    expect(html).toContain(">hi<");
    expect(html).toContain("API_KEY");
    expect(html).toContain("sealed — never shown");
    expect(html).toContain('aria-label="Replace API_KEY"');
    expect(html).not.toContain("disabled");
  });

  it("turns every edit control off for a role that may not write variables", () => {
    const html = renderToStaticMarkup(
      <VariablesEditor current={{ variables: { GREETING: "hi" }, sealed: [] }} rules={null} canWrite={false} apply={never} />,
    );
    const controls = html.match(/<(button|input)[^>]*>/g) ?? [];
    expect(controls.length).toBeGreaterThan(3);
    expect(controls.every((tag) => tag.includes("disabled"))).toBe(true);
  });
});

describe("SettingsForm", () => {
  const service = {
    id: "svc_1",
    projectId: "prj_1",
    environmentId: "env_1",
    name: "web",
    settings: { numReplicas: 2, healthcheckPath: null, healthcheckTimeout: 60, startCommand: null, cronSchedule: null },
  } as unknown as Service;

  it("shows every setting it edits, labelled, with the current values", () => {
    const html = renderToStaticMarkup(
      <SettingsForm service={service} rules={null} canManage={true} canDeploy={true} save={never} redeploy={never} />,
    );
    for (const label of ["Start command", "Health check path", "Health check timeout (seconds)", "Replicas", "Cron schedule (UTC)"]) {
      expect(html).toContain(label);
    }
    expect(html).toContain('value="2"');
  });

  it("puts the API's 400 beside the field its message names", () => {
    expect(fieldNamed("settings.cronSchedule '61 * * * *' is not valid: minute 61")).toBe("cronSchedule");
    expect(fieldNamed("field 'settings.numReplicas': Input should be a valid integer")).toBe("numReplicas");
    expect(fieldNamed("settings.cpuRequestMillis and cpuLimitMillis must satisfy ...")).toBeNull(); // not on this form
  });
});

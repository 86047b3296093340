import { describe, expect, it } from "vitest";
import { allows, type Grant } from "@/lib/permissions";

const where = { projectId: "prj_1", environmentId: "env_1", serviceId: "svc_1" };
const viewer: Grant = { workspaceId: "ws_team", role: "viewer", actions: ["read", "read-logs"] };
const ownAdmin: Grant = { workspaceId: "ws_own", role: "admin", actions: ["read", "manage", "write-variables"] };

describe("allows", () => {
  it("is false for a viewer, whose grants do not include the action", () => {
    expect(allows({ grants: [viewer], workspaceId: "ws_team" }, "manage", where)).toBe(false);
    expect(allows({ grants: [viewer], workspaceId: "ws_team" }, "read", where)).toBe(true);
  });

  it("counts only the grant of the service's workspace (a person is admin of their own)", () => {
    expect(allows({ grants: [viewer, ownAdmin], workspaceId: "ws_team" }, "manage", where)).toBe(false);
    expect(allows({ grants: [viewer, ownAdmin], workspaceId: "ws_own" }, "manage", where)).toBe(true);
    expect(allows({ grants: [viewer, ownAdmin], workspaceId: null }, "manage", where)).toBeNull(); // not known yet
  });

  it("ignores a token's grant narrowed to another service", () => {
    const other: Grant = { workspaceId: "ws_team", serviceId: "svc_2", role: null, actions: ["manage"] };
    expect(allows({ grants: [other], workspaceId: "ws_team" }, "manage", where)).toBe(false);
    expect(allows(null, "manage", where)).toBeNull();
  });
});

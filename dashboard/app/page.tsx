"use client";

// Home: the caller's workspaces and each one's projects (GET /v1/workspaces, GET /v1/projects).

import Link from "next/link";
import { Shell } from "@/components/Shell";
import { ErrorNote } from "@/components/ErrorNote";
import { api } from "@/lib/api";
import { projectHref } from "@/lib/paths";
import type { Project, Workspace } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

type Overview = { workspace: Workspace; projects: Project[] }[];

async function loadOverview(): Promise<Overview> {
  const { workspaces } = await api<{ workspaces: Workspace[] }>("/v1/workspaces");
  return Promise.all(
    workspaces.map(async (workspace) => {
      const query = `?workspaceId=${encodeURIComponent(workspace.id)}`;
      const { projects } = await api<{ projects: Project[] }>(`/v1/projects${query}`);
      return { workspace, projects };
    }),
  );
}

export default function Home() {
  const { data, error } = usePolled(loadOverview, "overview", 10000);
  return (
    <Shell crumbs={[{ label: "Workspaces" }]}>
      <h1>Workspaces</h1>
      <ErrorNote error={error} context="Could not load your workspaces" />
      {!data && !error && <p className="muted">Loading…</p>}
      {data?.map(({ workspace, projects }) => (
        <section key={workspace.id} aria-labelledby={`ws-${workspace.id}`}>
          <h2 id={`ws-${workspace.id}`}>
            {workspace.name} {workspace.role && <span className="muted">({workspace.role})</span>}
          </h2>
          {projects.length === 0 ? (
            <p className="muted">No projects yet: `railyard init` in an app&apos;s directory makes one.</p>
          ) : (
            <ul className="section-list">
              {projects.map((project) => (
                <li key={project.id}>
                  <Link href={projectHref(project.id)}>{project.name}</Link>
                </li>
              ))}
            </ul>
          )}
        </section>
      ))}
    </Shell>
  );
}

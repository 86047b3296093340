"use client";

// A project's deployment metrics (GET /v1/projects/{id}/metrics, ADR 0039) over 7, 30 or 90 days:
// the figures `railyard metrics` prints, and charts of deployments per day, success rate and
// durations per service. The window is in the query string (?id=…&days=7), so a link keeps it.

import Link from "next/link";
import { Suspense } from "react";
import { useSearchParams } from "next/navigation";
import { Shell } from "@/components/Shell";
import { ErrorNote } from "@/components/ErrorNote";
import { ProjectTabs } from "@/components/SectionTabs";
import { DeploymentsPerDay, DurationsPerService, SuccessRatePerDay } from "@/components/Charts";
import { api } from "@/lib/api";
import { percent, seconds } from "@/lib/chart";
import { type Metrics, type Spread, WINDOWS, windowOf } from "@/lib/metrics";
import { metricsHref, projectHref } from "@/lib/paths";
import type { Project } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

const RELOAD_MS = 15000; // figures trail deployments by seconds (events); no need for 2 s polling

type View = { project: Project; metrics: Metrics };

async function load(id: string, days: number): Promise<View> {
  const path = encodeURIComponent(id);
  const [{ project }, metrics] = await Promise.all([
    api<{ project: Project }>(`/v1/projects/${path}`),
    api<Metrics>(`/v1/projects/${path}/metrics?days=${days}`),
  ]);
  return { project, metrics };
}

const spread = (s: Spread) => (s.count ? `${seconds(s.p50Seconds)} / ${seconds(s.p90Seconds)}` : "—");

function Figures({ m }: { m: Metrics }) {
  const items: [string, string][] = [
    ["Deployments", String(m.deployments)],
    ["Per day", String(m.deploymentsPerDay)],
    ["Success rate", percent(m.successRate)],
    ["Build p50 / p90", spread(m.buildDuration)],
    ["Deploy p50 / p90", spread(m.deployDuration)],
    ["Time to restore p50 / p90", spread(m.timeToRestore)],
  ];
  return (
    <dl className="figures" aria-label="Figures over the window">
      {items.map(([label, value]) => (
        <div key={label} data-figure={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function MetricsView() {
  const query = useSearchParams();
  const id = query.get("id") ?? "";
  const days = windowOf(query.get("days"));
  const { data, error } = usePolled(id ? () => load(id, days) : null, `${id}:${days}`, RELOAD_MS);
  const name = data?.project.name ?? "Project";
  const m = data?.metrics;
  return (
    <Shell crumbs={[{ label: "Workspaces", href: "/" }, { label: name, href: projectHref(id) }, { label: "Metrics" }]}>
      <h1>{name}: metrics</h1>
      {id && <ProjectTabs projectId={id} current="Metrics" />}
      <nav aria-label="Window" className="tabs">
        {WINDOWS.map((w) => (
          <Link key={w} href={`${metricsHref(id)}&days=${w}`} aria-current={w === days ? "page" : undefined}>
            {w} days
          </Link>
        ))}
      </nav>
      <ErrorNote error={error} context={`Could not load the metrics of project ${id}`} />
      {!data && !error && <p className="muted">Loading…</p>}
      {m && (
        <>
          <p className="muted">
            Deployments created in the last {m.days} days
            {m.inProgress ? `; ${m.inProgress} still in progress` : ""}
            {m.restoresPending ? `; ${m.restoresPending} service(s) still failing` : ""}.
          </p>
          <Figures m={m} />
          <div className="charts">
            <DeploymentsPerDay days={m.daily} />
            <SuccessRatePerDay days={m.daily} overall={m.successRate} />
          </div>
          <DurationsPerService services={m.services} />
        </>
      )}
    </Shell>
  );
}

export default function MetricsPage() {
  return (
    <Suspense>
      <MetricsView />
    </Suspense>
  );
}

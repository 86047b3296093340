// The tabs under a service's or a project's heading: each is its own static page (ids travel in the
// query string), so a tab is a link and the current one says so to a screen reader.
"use client";

import Link from "next/link";
import {
  metricsHref,
  projectHref,
  serviceHref,
  serviceSettingsHref,
  serviceVariablesHref,
} from "@/lib/paths";

type Tab = { label: string; href: string };

function Tabs({ label, tabs, current }: { label: string; tabs: Tab[]; current: string }) {
  return (
    <nav aria-label={label} className="tabs">
      {tabs.map((tab) => (
        <Link key={tab.label} href={tab.href} aria-current={tab.label === current ? "page" : undefined}>
          {tab.label}
        </Link>
      ))}
    </nav>
  );
}

export type ServiceTab = "Deployments" | "Variables" | "Settings";

export function ServiceTabs({ serviceId, current }: { serviceId: string; current: ServiceTab }) {
  const tabs = [
    { label: "Deployments", href: serviceHref(serviceId) },
    { label: "Variables", href: serviceVariablesHref(serviceId) },
    { label: "Settings", href: serviceSettingsHref(serviceId) },
  ];
  return <Tabs label="Service sections" tabs={tabs} current={current} />;
}

export type ProjectTab = "Services" | "Metrics";

export function ProjectTabs({ projectId, current }: { projectId: string; current: ProjectTab }) {
  const tabs = [
    { label: "Services", href: projectHref(projectId) },
    { label: "Metrics", href: metricsHref(projectId) },
  ];
  return <Tabs label="Project sections" tabs={tabs} current={current} />;
}

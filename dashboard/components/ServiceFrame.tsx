// The frame of a service's tabs (Deployments, Variables, Settings): the breadcrumb trail, the
// heading, the tabs, the loading line and the error that kept the service from loading.
"use client";

import type { ReactNode } from "react";
import { ErrorNote } from "./ErrorNote";
import { ServiceTabs, type ServiceTab } from "./SectionTabs";
import { Shell } from "./Shell";
import type { ApiError } from "@/lib/api";
import { projectHref, serviceHref } from "@/lib/paths";
import type { Project, Service } from "@/lib/types";

export function ServiceFrame({
  id,
  tab,
  service,
  project,
  loaded,
  error,
  children,
}: {
  id: string;
  tab: ServiceTab;
  service?: Service;
  project?: Project;
  loaded: boolean;
  error: ApiError | null;
  children: ReactNode;
}) {
  const name = service?.name ?? "Service";
  const own = tab === "Deployments"; // the service's own page: its name ends the trail
  return (
    <Shell
      crumbs={[
        { label: "Workspaces", href: "/" },
        { label: project?.name ?? "Project", href: service ? projectHref(service.projectId) : undefined },
        { label: name, href: service && !own ? serviceHref(service.id) : undefined },
        ...(own ? [] : [{ label: tab }]),
      ]}
    >
      <h1>{own ? name : `${name} ${tab.toLowerCase()}`}</h1>
      {id && <ServiceTabs serviceId={id} current={tab} />}
      <ErrorNote error={error} context={`Could not load service ${id}`} />
      {!loaded && !error && <p className="muted">Loading…</p>}
      {children}
    </Shell>
  );
}

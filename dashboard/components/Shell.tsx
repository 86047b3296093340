// The frame of every signed-in page: the header (home, sign out) and the breadcrumb trail.
"use client";

import Link from "next/link";
import { useEffect, useState, type ReactNode } from "react";
import { api } from "@/lib/api";
import { BASE_PATH } from "@/lib/paths";
import { clearSession, getSession } from "@/lib/session";

export type Crumb = { label: string; href?: string };

export function Shell({ crumbs, children }: { crumbs: Crumb[]; children: ReactNode }) {
  const [signedIn, setSignedIn] = useState(false);
  useEffect(() => setSignedIn(getSession() !== null), []);

  async function signOut() {
    const session = getSession();
    if (session?.refreshToken) {
      await api("/v1/auth/logout", { method: "POST" }).catch(() => undefined); // ends it server-side too
    }
    clearSession();
    window.location.assign(`${BASE_PATH}/signin/`);
  }

  return (
    <>
      <header className="top">
        <Link href="/" className="brand">
          Railyard
        </Link>
        {signedIn && (
          <button type="button" className="link-button" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <nav aria-label="Breadcrumb" className="crumbs">
        <ol>
          {crumbs.map((crumb, i) => (
            <li key={i}>
              {crumb.href ? <Link href={crumb.href}>{crumb.label}</Link> : <span aria-current="page">{crumb.label}</span>}
            </li>
          ))}
        </ol>
      </nav>
      <main id="main">{children}</main>
    </>
  );
}

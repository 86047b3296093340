import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { LiveNotice } from "@/components/LiveNotice";
import "./globals.css";

export const metadata: Metadata = { title: "Railyard", description: "Railyard's dashboard" };
export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a href="#main" className="skip">
          Skip to content
        </a>
        {children}
        {/* Here, not in each page's Shell: the live client's code then ships once, in the chunk
            every page shares, instead of a copy in each page's chunk (the 250 kB budget). */}
        <LiveNotice />
      </body>
    </html>
  );
}

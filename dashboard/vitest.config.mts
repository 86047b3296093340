// Component and unit tests (tests/*.test.ts[x]) in node: components render with react-dom/server,
// so no browser DOM package is needed; the real browser runs in tests/browser/ (Python, Chromium).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { BASE_PATH } from "./next.config.mjs";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: { environment: "node", include: ["tests/**/*.test.{ts,tsx}"], env: { NEXT_PUBLIC_BASE_PATH: BASE_PATH } },
});

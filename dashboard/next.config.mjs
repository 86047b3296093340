// The dashboard is a static export (docs/decisions/0041-the-dashboard.md): plain files that
// `railyard dev` serves at BASE_PATH on its API's origin and that S3 + CloudFront serve in AWS.
// Pages take ids from the query string (/service/?id=...), so no route needs a server.
export const BASE_PATH = "/dashboard"; // railyard/localdev/dashboard_files.py serves the export under it

/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  basePath: BASE_PATH,
  trailingSlash: true,
  reactStrictMode: true,
  poweredByHeader: false,
  images: { unoptimized: true },
  env: { NEXT_PUBLIC_BASE_PATH: BASE_PATH },
};

export default nextConfig;

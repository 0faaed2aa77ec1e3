// @hey-api/openapi-ts, run by run.sh in target/client_generators/js
// (where this file is copied) with `--input` the published document: a
// fetch client and its SDK functions under heyapi/, imports ending in
// `.js` as the NodeNext tsconfig that type-checks it (tsc --strict) wants.
export default {
  output: { path: "heyapi", module: { extension: ".js" } },
  plugins: ["@hey-api/client-fetch", "@hey-api/typescript", "@hey-api/sdk"],
};

/**
 * SPEC 4: each service serves its OpenAPI page at /docs and the document at /docs-json. Fetched over HTTP from the
 * running service (the OpenAPI checks in test/openapi build the documents in memory): the document is OpenAPI 3 and
 * names `paths`; returns it for the caller's own checks.
 */
export async function servedDocs(baseUrl: string, paths: string[]): Promise<{ openapi: string; paths: Record<string, unknown> }> {
  const page = await fetch(`${baseUrl}/docs`);
  if (page.status !== 200 || !/text\/html/.test(page.headers.get('content-type') ?? '')) {
    throw new Error(`GET /docs answered ${page.status} ${page.headers.get('content-type')}, not the OpenAPI page`);
  }
  await page.text();
  const answer = await fetch(`${baseUrl}/docs-json`);
  if (answer.status !== 200) throw new Error(`GET /docs-json answered ${answer.status}`);
  const document = (await answer.json()) as { openapi: string; paths: Record<string, unknown> };
  if (!/^3\./.test(document.openapi)) throw new Error(`GET /docs-json is not an OpenAPI 3 document (openapi: ${document.openapi})`);
  const missing = paths.filter((path) => !(path in document.paths));
  if (missing.length) throw new Error(`GET /docs-json does not document ${missing.join(', ')}`);
  return document;
}

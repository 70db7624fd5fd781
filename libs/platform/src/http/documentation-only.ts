/** The names of the classes marked DocumentationOnly (their OpenAPI schemas' names). */
const documentationOnly = new Set<string>();

/**
 * A request class that only documents what a route reads, which the validation pipe does not check field by field
 * (a SCIM user of a directory import: the import checks each one itself and ignores the attributes it does not use).
 * Its OpenAPI schema stays open to other fields; every other schema only requests reach is closed
 * (`additionalProperties: false`, documentConventions), as the server refuses unknown fields (SPEC 4).
 */
export function DocumentationOnly(): ClassDecorator {
  return (target) => {
    documentationOnly.add(target.name);
  };
}

export function isDocumentationOnly(schemaName: string): boolean {
  return documentationOnly.has(schemaName);
}

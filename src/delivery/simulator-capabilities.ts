/**
 * The site simulator's CapabilityStatement (GET /fhir/metadata): what it really does, no more, so `sites check`
 * reads it as it reads a real server's. Transaction (not atomic), conditional create and update, versioned update
 * (If-Match) and search by identifier on the resources delivery writes; no $meta-delete, no auth statement.
 */
const WRITTEN = ['Patient', 'Encounter', 'Task', 'Organization'] as const;

export function simulatorCapabilityStatement(
  baseUrl: string,
  options: { metaDelete?: boolean; subscriptions?: boolean } = {},
): fhir4.CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'tc-alerts site simulator (@medplum/fhir-router)' },
    implementation: { description: 'tc-alerts site simulator', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: [
          ...WRITTEN.map((type) => ({
            type,
            interaction: (['read', 'vread', 'update', 'create', 'search-type'] as const).map((code) => ({ code })),
            versioning: 'versioned-update' as const,
            conditionalCreate: true,
            conditionalUpdate: true,
            updateCreate: true,
            searchParam: [
              { name: 'identifier', type: 'token' as const },
              { name: '_lastUpdated', type: 'date' as const },
            ],
            ...(options.metaDelete
              ? {
                  operation: [
                    { name: 'meta-delete', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-meta-delete' },
                  ],
                }
              : {}),
          })),
          ...(options.subscriptions
            ? [
                {
                  type: 'Subscription',
                  interaction: (['read', 'update', 'create', 'delete'] as const).map((code) => ({ code })),
                  updateCreate: true,
                },
              ]
            : []),
        ],
      },
    ],
  };
}

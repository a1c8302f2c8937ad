/** OperationOutcomes for ignored and rejected messages. Texts name ids, segments and fields, never values. */
export const ERROR_SYSTEM = 'urn:tc-alerts:error-code';

export function informationOutcome(diagnostics: string): fhir4.OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'not-supported', diagnostics }] };
}

export function rejectionOutcome(code: string, diagnostics: string, location?: string): fhir4.OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: code === 'TC_CONVERT_FAILED' ? 'exception' : 'structure',
        details: { coding: [{ system: ERROR_SYSTEM, code }] },
        diagnostics,
        ...(location ? { location: [location] } : {}),
      },
    ],
  };
}

package org.tcalerts.validator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

/**
 * HAPI FHIR's FhirInstanceValidator, offline (base R4 definitions and the code systems HAPI bundles), as a line
 * protocol: each stdin line is "&lt;id&gt;\t&lt;resource JSON&gt;"; each answer is one stdout line
 * {"id":..,"issues":[{"severity","messageId","location","message"}]} with every error and warning. A first line
 * {"ready":true} says the validator is warmed up.
 */
public final class Main {
  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    FhirContext ctx = FhirContext.forR4();
    ValidationSupportChain chain =
        new ValidationSupportChain(
            new DefaultProfileValidationSupport(ctx),
            new CommonCodeSystemsTerminologyService(ctx),
            new InMemoryTerminologyServerValidationSupport(ctx),
            new SnapshotGeneratingValidationSupport(ctx));
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    FhirValidator validator = ctx.newValidator().registerValidatorModule(module);
    // Warm up (loads the definitions) before announcing readiness, so the first real answer is not the slow one.
    validator.validateWithResult("{\"resourceType\":\"Patient\",\"id\":\"warmup\"}");
    out.println("{\"ready\":true}");

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isEmpty()) continue;
      int tab = line.indexOf('\t');
      String id = tab < 0 ? "" : line.substring(0, tab);
      String json = tab < 0 ? line : line.substring(tab + 1);
      StringBuilder sb = new StringBuilder();
      sb.append("{\"id\":").append(quote(id)).append(",\"issues\":[");
      try {
        ValidationResult result = validator.validateWithResult(json);
        boolean first = true;
        for (SingleValidationMessage m : result.getMessages()) {
          ResultSeverityEnum s = m.getSeverity();
          if (s != ResultSeverityEnum.ERROR && s != ResultSeverityEnum.FATAL && s != ResultSeverityEnum.WARNING)
            continue;
          if (!first) sb.append(',');
          first = false;
          sb.append("{\"severity\":").append(quote(s.getCode()));
          sb.append(",\"messageId\":").append(quote(m.getMessageId()));
          sb.append(",\"location\":").append(quote(m.getLocationString()));
          sb.append(",\"message\":").append(quote(m.getMessage())).append('}');
        }
      } catch (Exception e) {
        sb.append("{\"severity\":\"fatal\",\"messageId\":\"VALIDATOR_EXCEPTION\",\"location\":\"\",\"message\":")
            .append(quote(e.getClass().getName() + ": " + e.getMessage()))
            .append('}');
      }
      sb.append("]}");
      out.println(sb);
    }
  }

  private static String quote(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }
}

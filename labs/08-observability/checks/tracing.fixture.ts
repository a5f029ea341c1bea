/**
 * Lab 08's span store, in the learner's world: a TracerProvider whose spans
 * are kept in memory (no collector), which the learner's server takes as
 * options.tracerProvider and the checks read back through its stand-in as
 * plain data. What it reports is what the learner's code recorded: the
 * checks compare it with what they saw on the wire.
 */
import { SpanKind, SpanStatusCode, type Tracer, type TracerOptions, type TracerProvider } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

export interface SpanRecord {
  name: string;
  kind: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
  status: string;
}

export class MemoryTracing implements TracerProvider {
  private readonly exporter = new InMemorySpanExporter();
  private readonly provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter)] });

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return this.provider.getTracer(name, version, options);
  }

  /** The spans ended so far, oldest first. */
  spans(): SpanRecord[] {
    return this.exporter.getFinishedSpans().map((span) => ({
      name: span.name,
      kind: SpanKind[span.kind],
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId ?? null,
      attributes: { ...span.attributes },
      status: SpanStatusCode[span.status.code],
    }));
  }
}

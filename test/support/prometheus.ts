/**
 * Checks Prometheus text exposition (format 0.0.4) strictly: every line against the grammar (HELP,
 * TYPE, or a sample `name{label="value",…} number [timestamp]`), then parsed with
 * parse-prometheus-text-format, which is lenient about lines it does not understand.
 */
import assert from 'node:assert/strict';
import parse from 'parse-prometheus-text-format';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
// Go's ParseFloat, which Prometheus parses values with, takes Inf and NaN in any case (prom-client writes `Nan`).
const NUMBER = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?[Ii][Nn][Ff]|[Nn][Aa][Nn])';
const SAMPLE = new RegExp(`^${NAME}(?:\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? ${NUMBER}(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP ${NAME} .*$`);
const TYPE = new RegExp(`^# TYPE ${NAME} (counter|gauge|histogram|summary|untyped)$`);

export type PrometheusFamilies = ReturnType<typeof parse>;

export function parsePrometheusStrict(text: string): PrometheusFamilies {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  for (const [i, line] of text.split('\n').slice(0, -1).entries()) {
    if (line === '') continue;
    assert.ok(SAMPLE.test(line) || HELP.test(line) || TYPE.test(line), `line ${i + 1} is not Prometheus text format: ${line}`);
  }
  return parse(text);
}

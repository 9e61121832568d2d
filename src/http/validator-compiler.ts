import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

/** A Fastify validation function: false plus `errors` on failure, or the converted value. */
type ValidationFunction = ((data: unknown) => false | { value: unknown }) & {
  errors?: FastifySchemaValidationError[];
};

/**
 * Fastify's validator compiler for every route, built on TypeBox.
 *
 * JSON bodies are checked as they are: a number where a string belongs is a 422, never silently
 * turned into a string (Fastify's default Ajv setup coerces bodies, so `{"userId": 123}` or
 * `{"metadata": {"k": null}}` would pass as `"123"` and `""`). Query strings, path parameters
 * and headers arrive as text, so they are converted to the schema's types first (`"20"` → 20,
 * a single value → a one-item array). Schema defaults are applied to every part.
 */
export const compileValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const validator = Compile(schema);
  const convert = httpPart !== 'body';

  const validate: ValidationFunction = (data) => {
    let value = Value.Default(schema, data);
    if (convert) value = Value.Convert(schema, value);
    if (validator.Check(value)) return { value };

    validate.errors = firstError(validator.Errors(value));
    return false;
  };
  return validate;
};

/**
 * Only the first failure is reported, as Ajv does without `allErrors`; a failed union reports
 * the deepest branch failure first, which names the offending field.
 */
function firstError(
  errors: Iterable<{ instancePath: string; schemaPath: string; keyword: string; message: string }>,
): FastifySchemaValidationError[] {
  for (const error of errors) {
    const { instancePath, schemaPath, keyword } = error;
    // TypeBox reports an unexpected property as the `false` schema it met ("schema is false").
    const unknownProperty = keyword === 'boolean' && schemaPath.endsWith('/additionalProperties');
    const message = unknownProperty ? 'is not a known property' : error.message;
    return [{ instancePath, schemaPath, keyword, message, params: {} }];
  }
  return [
    { instancePath: '', schemaPath: '#', keyword: 'unknown', message: 'is invalid', params: {} },
  ];
}

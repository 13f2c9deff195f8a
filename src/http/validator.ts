import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler as zodValidatorCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';

/**
 * A check that says "this input is plainly valid, and is its own parsed value" — or, by answering
 * false, "let zod decide". It may answer false for valid input (zod then accepts it), never true for
 * input zod would refuse or change: each one is tested against its schema with generated inputs.
 */
export type PlainlyValid = (input: unknown) => boolean;

const fastPaths = new WeakMap<object, PlainlyValid>();

/**
 * Gives a hot route's body schema a fast path: zod still defines the schema (OpenAPI, messages, types)
 * and still decides everything the check does not accept. Only for schemas without transforms or
 * defaults, whose parsed value equals the input.
 */
export function withFastPath<S extends z.ZodType>(schema: S, plainlyValid: PlainlyValid): S {
  fastPaths.set(schema, plainlyValid);
  return schema;
}

/** fastify-type-provider-zod's validator, behind the schema's fast path when it has one. */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const zodValidate = zodValidatorCompiler(route);
  const plainlyValid = fastPaths.get(route.schema);
  if (!plainlyValid) return zodValidate;
  return (data: unknown) => (plainlyValid(data) ? { value: data } : zodValidate(data));
};

/*
 * schema.h -- the JSON Schema subset that tool manifests use for input_schema and output_schema
 * (SPEC 4.2).
 *
 * Keywords enforced: type (a name or an array of names: null, boolean, number, integer,
 * string, array, object), properties, required, enum, const, items (a schema for every element,
 * or an array of schemas matched by position), minItems, maxItems, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum (numbers), minLength and maxLength (counted in characters,
 * that is UTF-8 code points), and additionalProperties (false, true, or a schema for the members
 * that properties does not name).  A schema may also be true (anything) or false (nothing).
 *
 * Annotations, accepted and not enforced: $schema, $id, $comment, title, description, default,
 * examples, format, deprecated, readOnly, writeOnly, and any keyword starting with "x-".
 *
 * Any other keyword is refused when a schema is checked: a typo ("requird") or a keyword this
 * module does not enforce ("pattern", "anyOf", "$ref", ...) would otherwise leave validation the
 * author meant silently undone.  Schemas stored before keywords were checked are checked with
 * SG_SCHEMA_LENIENT, which ignores such keywords as this module always did.
 */
#ifndef SG_SCHEMA_H
#define SG_SCHEMA_H

#include "base/sg.h"

/* How deep validation follows a schema into a value.  Parsed JSON is at most 512 deep, so real
 * schemas and values never reach it; it only bounds the recursion. */
#define SG_SCHEMA_MAX_DEPTH 600

/* Checks that schema is one this module can apply: an object or a boolean, made of the keywords
 * above only, each of the right type (type names known, required an array of strings, minimum a
 * number, minLength a non-negative integer, ...), recursively.  Returns 0, or SOULGW_EINVAL with
 * err naming the keyword by its path below prefix, such as
 *   manifests[0].input_schema.properties.name.type: unknown type "strng"
 *   manifests[0].input_schema.requird: unknown JSON Schema keyword (did you mean "required"?)
 * err may be NULL. */
int sg_schema_check(const soulgw_json *schema, const char *prefix, char *err, size_t errlen);

/* Flags of sg_schema_check_opts(). */
#define SG_SCHEMA_LENIENT 1u /* unknown and unenforced keywords pass (and are ignored), and so do
                                the keywords enforced since: for schemas already stored */

/* sg_schema_check() with flags (0: as sg_schema_check()). */
int sg_schema_check_opts(const soulgw_json *schema, const char *prefix, unsigned flags, char *err,
                         size_t errlen);

/* Validates value against schema (which should have passed sg_schema_check; a keyword of the
 * wrong type is ignored).  Returns 0 when the value conforms, or SOULGW_EINVAL with err naming the
 * first failing place by its path below root, such as
 *   input.items[2].name: expected string, got number
 * No allocation; the recursion is bounded by SG_SCHEMA_MAX_DEPTH.  err may be NULL. */
int sg_schema_validate(const soulgw_json *schema, const soulgw_json *value, const char *root,
                       char *err, size_t errlen);

/* The JSON type name of a value as the error messages use it ("null", "boolean", "number",
 * "string", "array", "object"). */
const char *sg_schema_type_name(const soulgw_json *v);

#endif

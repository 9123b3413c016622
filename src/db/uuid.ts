// Every id the database hands out is a UUID (gen_random_uuid()); input that is not one is answered before it
// reaches a query, whose uuid cast would fail with a database error instead of "not found".
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string): boolean => UUID.test(value);

// The introspection options GraphiQL is mounted with (src/main.jsx) and the
// ones scripts/introspection-queries.mjs writes the test data with, so the
// query in graph/testdata/introspection-graphiql.graphql is the one the
// bundled GraphiQL sends on page load. @graphiql/react (schema.js,
// generateIntrospectionQuery) calls graphql-js's
// getIntrospectionQuery({ inputValueDeprecation, schemaDescription }) with
// these two props and names the operation introspectionQueryName.
export const introspectionOptions = {
  inputValueDeprecation: true,
  schemaDescription: true,
};

// The operation name GraphiQL gives its introspection query (its default).
export const introspectionQueryName = 'IntrospectionQuery';

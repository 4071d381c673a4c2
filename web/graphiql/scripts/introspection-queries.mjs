// Writes the introspection queries that graph/'s tests send to the gateway,
// from the graphql package pinned in package-lock.json:
//
//   graph/testdata/introspection-graphiql.graphql
//     exactly the query the bundled GraphiQL sends on page load:
//     @graphiql/react's generateIntrospectionQuery calls
//     getIntrospectionQuery({ inputValueDeprecation, schemaDescription })
//     with the props src/main.jsx passes (src/introspection.js), and renames
//     the operation only when introspectionQueryName is not the default.
//   graph/testdata/introspection-all-options.graphql
//     getIntrospectionQuery with every option of this graphql version that a
//     spec-following server answers switched on. Left out:
//     experimentalDirectiveDeprecation (__Directive.isDeprecated is not in
//     the GraphQL specification; gqlgen has no such field) and typeDepth,
//     which is a number (the default, 9, is kept).
//
// The files hold the query text byte for byte, without a trailing newline
// added: compare them with the request body's "query" as they are.
//
// Run: cd web/graphiql && npm ci && npm run testdata
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getIntrospectionQuery } from 'graphql';
import { introspectionOptions, introspectionQueryName } from '../src/introspection.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const out = path.join(repo, 'graph', 'testdata');

const graphiql = getIntrospectionQuery(introspectionOptions);
const named = introspectionQueryName === 'IntrospectionQuery'
  ? graphiql
  : graphiql.replace('query IntrospectionQuery', `query ${introspectionQueryName}`);

const allOptions = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});

fs.mkdirSync(out, { recursive: true });
for (const [name, text] of [['introspection-graphiql.graphql', named], ['introspection-all-options.graphql', allOptions]]) {
  fs.writeFileSync(path.join(out, name), text);
  console.log(`graph/testdata/${name}: ${text.length} bytes`);
}

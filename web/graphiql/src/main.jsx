// Kommungraf's GraphiQL: GraphiQL 4 (CodeMirror 5, React 18) mounted on
// #graphiql. The page (dist/index.html, a Go html/template) passes its
// settings in a JSON data block, not in an inline script, so the page's
// Content-Security-Policy can forbid inline scripts:
//
//   <script type="application/json" id="kommungraf-config">
//     {"endpoint": "/graphql", "storagePrefix": "kommungraf-analyst-", "persona": "analyst", "token": "..."}
//   </script>
//
// persona and token are set in demo mode only: the persona's development
// credential, sent as Authorization: Bearer. Outside the demo the user
// pastes a token into the headers editor.
import { useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { useEditorContext } from '@graphiql/react';
import 'graphiql/style.css';
import './kommungraf.css';
import { introspectionOptions, introspectionQueryName } from './introspection.js';

function readConfig() {
  const el = document.getElementById('kommungraf-config');
  const config = el ? JSON.parse(el.textContent) : {};
  return {
    endpoint: typeof config.endpoint === 'string' ? config.endpoint : '/graphql',
    storagePrefix: typeof config.storagePrefix === 'string' ? config.storagePrefix : 'kommungraf-',
    persona: typeof config.persona === 'string' ? config.persona : '',
    token: typeof config.token === 'string' ? config.token : '',
  };
}

// prefixedStorage keeps each persona's editors, tabs and history apart in
// one browser: GraphiQL's keys are stored under prefix. It is the tab's
// sessionStorage, not localStorage: queries carry personnummer, and what a
// case officer typed must not outlive the browser tab, nor be there for the
// next user of a shared workstation. (GraphiQL does not persist the headers
// editor, so a pasted token is not stored at all.)
function prefixedStorage(prefix) {
  const store = window.sessionStorage;
  const keys = () => Object.keys(store).filter((k) => k.startsWith(prefix));
  return {
    getItem: (key) => store.getItem(prefix + key),
    setItem: (key, value) => store.setItem(prefix + key, value),
    removeItem: (key) => store.removeItem(prefix + key),
    clear: () => keys().forEach((k) => store.removeItem(k)),
    get length() {
      return keys().length;
    },
  };
}

// fetcher posts a GraphQL request as JSON with the headers of the headers
// editor. The gateway serves no subscriptions, so plain fetch is enough.
function fetcher(endpoint) {
  return async (params, opts) => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...(opts?.headers || {}) },
      body: JSON.stringify(params),
      credentials: 'same-origin',
    });
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
}

const config = readConfig();
const defaultHeaders = config.token
  ? JSON.stringify({ Authorization: `Bearer ${config.token}` }, null, 2)
  : undefined;
// One fetcher and one storage for the page's life: GraphiQL introspects
// again whenever its fetcher prop changes.
const graphqlFetcher = fetcher(config.endpoint);
const storage = prefixedStorage(config.storagePrefix);
const title = config.persona ? `Kommungraf (${config.persona})` : 'Kommungraf';

// HeaderEditorReady reports when GraphiQL's headers editor exists. GraphiQL
// introspects as soon as it mounts, with the headers of that editor, which
// CodeMirror creates a moment later: the first introspection would go
// without the demo's Authorization header (and be refused). So the page
// holds GraphiQL's introspection back (schema={null}) until the editor is
// there.
function HeaderEditorReady({ onReady, children }) {
  const { headerEditor } = useEditorContext({ nonNull: true });
  useEffect(() => {
    if (headerEditor) onReady();
  }, [headerEditor, onReady]);
  return children;
}

function App() {
  const [headersReady, setHeadersReady] = useState(false);
  const onReady = useCallback(() => setHeadersReady(true), []);
  return (
    <GraphiQL
      fetcher={graphqlFetcher}
      schema={headersReady ? undefined : null}
      defaultHeaders={defaultHeaders}
      storage={storage}
      introspectionQueryName={introspectionQueryName}
      {...introspectionOptions}
    >
      {/* GraphiQL's own logo links to github.com; this page links nowhere outside. */}
      <GraphiQL.Logo>
        <HeaderEditorReady onReady={onReady}>{title}</HeaderEditorReady>
      </GraphiQL.Logo>
    </GraphiQL>
  );
}

createRoot(document.getElementById('graphiql')).render(<App />);

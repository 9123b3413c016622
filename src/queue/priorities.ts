// Task priorities, which claim_tasks orders by (higher first): the home page first, then sitemap URLs by their
// own priority, then links by depth, so a crawl warms what matters most before it runs out of pages.
export const ROOT_PRIORITY = 1_000_000;
export const SITEMAP_PRIORITY_BASE = 100_000;
export function linkPriority(depth: number): number {
  return Math.max(0, 10_000 - depth * 100);
}

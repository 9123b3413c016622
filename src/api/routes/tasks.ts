// A job's tasks (one per URL), filtered, sorted and paged. The query is shared with the share-link view.
import { createRoute } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { notFound } from '../errors.ts';
import { jobVisible } from '../jobs/job-view.ts';
import { listTasks, Task, TaskListQuery } from '../jobs/task-query.ts';
import { errorJson, JobIdParams, json, pageOf } from '../openapi.ts';
import { userTx } from '../user-db.ts';

const list = createRoute({
  method: 'get',
  path: '/jobs/{id}/tasks',
  tags: ['tasks'],
  summary: 'List a job’s tasks: one per URL, with its response, cache status and timing',
  request: { params: JobIdParams, query: TaskListQuery },
  responses: {
    200: json(pageOf(Task), 'A page of tasks'),
    400: errorJson('A filter or the cursor is not valid'),
    404: errorJson('No such job (or not yours)'),
  },
});

export function taskRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const filters = c.req.valid('query');
    const result = await userTx(deps, c, async (tx) => {
      if (!(await jobVisible(tx, id))) throw notFound('job');
      return listTasks(tx, id, filters);
    });
    return c.json(result, 200);
  });
  return r;
}

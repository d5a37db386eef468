/*
 * models.c -- GET /v1/models (SPEC-protocols 1): the models a client may name, as OpenAI's
 * list: the built-in local models, then for each configured provider the names in its
 * optional `models` list as NAME:MODEL.  Providers answer for any model they know, so the
 * list is what the operator chose to show, not a limit.
 */
#include "base/json_write.h"
#include "routes/routes.h"

static void put_model(sg_buf *b, int *first, const char *provider, const char *model,
                      const char *owner) {
  sg_buf_puts(b, *first ? "{\"id\":" : ",{\"id\":");
  *first = 0;
  sg_buf b2;
  sg_buf_init(&b2, 0);
  sg_buf_puts(&b2, provider);
  sg_buf_putc(&b2, ':');
  sg_buf_puts(&b2, model);
  if (sg_buf_failed(&b2)) b->failed = 1;
  else sg_json_write_string(b, b2.ptr);
  sg_buf_free(&b2);
  sg_buf_puts(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
  sg_json_write_string(b, owner);
  sg_buf_putc(b, '}');
}

int sg_route_openai_models(soulgw_req *req, void *ud) {
  (void)ud;
  sg_buf b;
  int first = 1;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
  put_model(&b, &first, "local", "echo", "soulgw");
  put_model(&b, &first, "local", "emb", "soulgw");
  /* aliases ([llm.models.NAME], SPEC-llm-routing), between the built-in models and the
   * providers' */
  for (const sg_model_conf *m = req->snap->conf->llm.models; m; m = m->next) {
    sg_buf_puts(&b, first ? "{\"id\":" : ",{\"id\":");
    first = 0;
    sg_json_write_string(&b, m->name);
    sg_buf_puts(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"soulgw\"}");
  }
  for (const sg_provider_conf *p = req->snap->conf->llm.providers; p; p = p->next)
    for (size_t i = 0; i < p->models.n; i++) put_model(&b, &first, p->name, p->models.v[i], p->name);
  sg_buf_puts(&b, "]}");
  size_t len;
  char *body = sg_buf_failed(&b) ? (sg_buf_free(&b), NULL) : sg_buf_detach(&b, &len);
  if (!body)
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the list");
  return sg_req_answer_typed(req, 200, body, len, "application/json");
}

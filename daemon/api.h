/* The HTTPS API's handlers, one per route (the table is in http.c, the
 * reference in docs/api.md). Each handler receives an authenticated request
 * whose role the route allows, and answers it exactly once. */
#ifndef LCBD_API_H
#define LCBD_API_H

#include "daemon/request.h"

/* api_outcomes.c */
void api_post_outcomes(struct request *req);

/* api_queries.c */
void api_get_card_balance(struct request *req);
void api_get_learner(struct request *req);
void api_get_learner_transactions(struct request *req);
void api_get_institution_totals(struct request *req);

/* api_admin.c */
void api_post_institution(struct request *req);
void api_post_catalogue_item(struct request *req);
void api_post_learner(struct request *req);
void api_post_learner_card(struct request *req);
void api_post_card_lost(struct request *req);
void api_post_card_replace(struct request *req);
void api_post_card_cancel(struct request *req);

/* api_rules.c */
void api_post_conversion_preview(struct request *req);
void api_post_conversion(struct request *req);
void api_post_reversal(struct request *req);
void api_get_learner_transcript(struct request *req);

#endif

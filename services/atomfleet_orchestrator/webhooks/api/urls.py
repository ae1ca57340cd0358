from django.urls import path

from atomfleet_orchestrator.webhooks.api import views

urlpatterns = [
    path("webhooks", views.webhooks, name="webhook-list"),
    path("webhooks/<uuid:endpoint_id>", views.webhook, name="webhook-detail"),
    path("webhooks/<uuid:endpoint_id>/rotate-secret", views.rotate_secret, name="webhook-rotate-secret"),
    path("webhooks/<uuid:endpoint_id>/deliveries", views.DeliveryList.as_view(), name="webhook-deliveries"),
    path("webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry", views.retry_delivery,
         name="webhook-delivery-retry"),
    path("webhooks/<uuid:endpoint_id>/replay", views.replay, name="webhook-replay"),
]

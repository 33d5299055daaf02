from django.urls import path

from . import views

app_name = "badges"

urlpatterns = [
    path("", views.home, name="home"),
    path("events/<slug:slug>/badge/", views.badge_page, name="badge"),
    path("events/<slug:slug>/badge/review/", views.review, name="review"),
    path("events/<slug:slug>/badge/confirm/", views.confirm, name="confirm"),
    path("events/<slug:slug>/badge/confirmed/", views.confirmed, name="confirmed"),
]

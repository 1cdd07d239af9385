"""Factories for events."""

import factory

from analytics.models import Event, EventType
from workshop.tests.factories import WorkshopSessionFactory


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    session = factory.SubFactory(WorkshopSessionFactory)
    student = factory.SelfAttribute("session.student")
    event_type = EventType.STEP_PROGRESS
    event_data = factory.Dict({})

"""The documented shape of the revenue metrics answer (the API schema's serializers)."""

from __future__ import annotations

from rest_framework import serializers


class RevenueRowSerializer(serializers.Serializer):
    key = serializers.JSONField(allow_null=True)
    label = serializers.CharField()  # type: ignore[assignment]
    mqls = serializers.IntegerField()
    sqls = serializers.IntegerField()
    opportunities = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    won_amount = serializers.CharField()
    pipeline_amount = serializers.CharField()
    avg_deal = serializers.CharField(allow_null=True)
    won_amount_per_mql = serializers.CharField(allow_null=True)
    days_to_sql_median = serializers.FloatField(allow_null=True)
    days_to_sql_p90 = serializers.FloatField(allow_null=True)
    days_to_opportunity_median = serializers.FloatField(allow_null=True)
    days_to_opportunity_p90 = serializers.FloatField(allow_null=True)
    days_to_won_median = serializers.FloatField(allow_null=True)
    days_to_won_p90 = serializers.FloatField(allow_null=True)


class RevenuePercentiles(serializers.Serializer):
    median_days = serializers.FloatField(allow_null=True)
    p90_days = serializers.FloatField(allow_null=True)


class TimeToConversion(serializers.Serializer):
    to_sql = RevenuePercentiles()
    to_opportunity = RevenuePercentiles()
    to_won = RevenuePercentiles()


class RevenueMetricsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    as_of = serializers.DateTimeField(
        allow_null=True,
        help_text="When the revenue rollup was last refreshed (beat, every minute): the figures "
        "are as of then. Null: never refreshed (run manage.py rebuild_revenue_rollup).",
    )
    filters = serializers.DictField()
    totals = serializers.DictField()
    by_source = RevenueRowSerializer(many=True)
    by_campaign = RevenueRowSerializer(many=True)
    by_score_band = RevenueRowSerializer(many=True)
    by_team = RevenueRowSerializer(many=True)
    by_rep = RevenueRowSerializer(many=True)
    by_cohort_week = RevenueRowSerializer(many=True)
    by_qualification = RevenueRowSerializer(many=True)
    time_to_conversion = TimeToConversion()
